"""UI text: Simplified Chinese first, English available. One table, keyed by message id."""

from __future__ import annotations

from aiohttp import web

LANGS = ("zh", "en")
LANG_COOKIE = "anxin_lang"

MESSAGES: dict[str, tuple[str, str]] = {
    "app_name": ("安心12349 虚拟养老院", "Anxin 12349 Virtual Nursing Home"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Wrong user name or password"),
    "login_throttled": ("登录失败次数过多，请稍后再试", "Too many failed logins; try again later"),
    "csrf_failed": ("页面已过期，请重新提交", "The page expired; please submit again"),
    "home": ("首页", "Home"),
    "elders": ("老人档案", "Elders"),
    "regions": ("行政区划", "Regions"),
    "providers": ("服务商", "Providers"),
    "catalogue": ("服务目录", "Service catalogue"),
    "import": ("批量导入", "Bulk import"),
    "search": ("搜索", "Search"),
    "search_hint": ("姓名、电话或身份证号", "Name, phone or ID number"),
    "name": ("姓名", "Name"),
    "title": ("名称", "Name"),
    "code": ("代码", "Code"),
    "years": ("岁", "y"),
    "status_active": ("在册", "active"),
    "status_suspended": ("暂停服务", "suspended"),
    "status_moved": ("已迁出", "moved away"),
    "status_deceased": ("已故", "deceased"),
    "sex": ("性别", "Sex"),
    "M": ("男", "Male"),
    "F": ("女", "Female"),
    "age": ("年龄", "Age"),
    "birth_date": ("出生日期", "Birth date"),
    "id_number": ("身份证号", "ID number"),
    "phones": ("电话", "Phones"),
    "address": ("地址", "Address"),
    "region": ("所属区域", "Region"),
    "risk_groups": ("重点人群", "Risk groups"),
    "care_level": ("照护等级", "Care level"),
    "medical_notes": ("健康备注", "Medical notes"),
    "contacts": ("紧急联系人", "Emergency contacts"),
    "relation": ("关系", "Relation"),
    "devices": ("设备", "Devices"),
    "kind": ("类型", "Kind"),
    "serial": ("序列号", "Serial"),
    "battery": ("电量", "Battery"),
    "last_heartbeat": ("最近心跳", "Last heartbeat"),
    "status": ("状态", "Status"),
    "consent": ("知情同意", "Consent"),
    "location": ("位置", "Location"),
    "no_results": ("没有找到记录", "No records found"),
    "results": ("条结果", "results"),
    "next_page": ("下一页", "Next page"),
    "counts": ("本辖区概况", "Your region at a glance"),
    "elders_count": ("在册老人", "Enrolled elders"),
    "devices_count": ("在用设备", "Active devices"),
    "providers_count": ("服务商", "Providers"),
    "staff_count": ("服务人员", "Service staff"),
    "items_count": ("服务项目", "Service items"),
    "by_risk_group": ("按重点人群", "By risk group"),
    "by_district": ("按区域", "By region"),
    "role": ("角色", "Role"),
    "role_admin": ("系统管理员", "Administrator"),
    "role_supervisor": ("民政监管", "Supervisor"),
    "role_operator": ("话务坐席", "Hotline operator"),
    "role_provider_admin": ("服务商管理员", "Provider admin"),
    "role_provider_staff": ("服务人员", "Provider staff"),
    "import_elders": ("导入老人名册", "Import elder roster"),
    "import_devices": ("导入设备清单", "Import device list"),
    "file": ("文件 (CSV 或 XLSX)", "File (CSV or XLSX)"),
    "skip_bad": ("跳过错误行，导入其余行", "Skip bad rows and import the rest"),
    "upload": ("上传并导入", "Upload and import"),
    "import_ok": ("导入完成", "Import finished"),
    "import_failed": ("导入未写入：存在错误行", "Nothing written: the file has bad rows"),
    "line": ("行", "Line"),
    "column": ("列", "Column"),
    "reason": ("原因", "Reason"),
    "inserted": ("新增", "Inserted"),
    "updated": ("更新", "Updated"),
    "unchanged": ("未变", "Unchanged"),
    "bad_rows": ("错误行", "Bad rows"),
    "generated_secrets": ("新生成的设备密钥（仅显示一次）",
                          "Generated device secrets (shown once)"),
    "import_help": ("表头：", "Header row:"),
    "error": ("出错了", "Something went wrong"),
    "error_404": ("页面不存在或不在您的辖区内", "Not found, or not in your region"),
    "error_403": ("您无权访问此页面", "You may not open this page"),
    "back_home": ("返回首页", "Back to home"),
    "audited": ("查看完整档案已记入审计日志", "Viewing the full record was written to the audit log"),
    "masked": ("已脱敏", "masked"),
    "items": ("服务项目", "Service items"),
    "price": ("价格", "Price"),
    "duration": ("标准时长", "Duration"),
    "response": ("响应时限", "Target response"),
    "subsidy": ("补贴", "Subsidy"),
    "minutes": ("分钟", "min"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "rating": ("星级", "Rating"),
    "licence": ("许可证号", "Licence"),
    "staff": ("服务人员", "Staff"),
    "all_regions": ("全部区域", "All regions"),
    "service_circle": ("服务圈", "Service circle"),
    "urban": ("城市", "urban"),
    "rural": ("农村", "rural"),
    "level_city": ("市", "city"),
    "level_district": ("区/县级市", "district"),
    "level_town": ("镇/街道", "town/street"),
    "level_community": ("社区/村", "community/village"),
    "demo_logins": ("演示账号", "Demo logins"),
}


def lang_of(request: web.Request) -> str:
    wanted = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return wanted if wanted in LANGS else "zh"


def translator(lang: str):  # type: ignore[no-untyped-def]
    index = LANGS.index(lang)

    def t(key: str) -> str:
        pair = MESSAGES.get(key)
        return pair[index] if pair else key

    return t
