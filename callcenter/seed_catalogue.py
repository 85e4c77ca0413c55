"""Static catalogue of the demo city: skills, service categories and items, certificates,
provider name parts. Prices are in cents (CNY), at rough Weihai 2024-2026 levels."""

from __future__ import annotations

from typing import NamedTuple


class Skill(NamedTuple):
    code: str
    name_zh: str
    name_en: str


class Category(NamedTuple):
    code: str
    name_zh: str
    name_en: str
    sort_order: int


class Item(NamedTuple):
    code: str
    category_code: str
    name_zh: str
    name_en: str
    unit: str
    price_cents: int
    duration_min: int
    target_response_min: int
    subsidy_eligible: bool
    skill_code: str
    active: bool


SKILLS: tuple[Skill, ...] = (
    Skill("emergency", "紧急救援", "Emergency response"),
    Skill("nursing", "生活护理", "Personal care"),
    Skill("meals", "助餐", "Meals"),
    Skill("bathing", "助浴", "Bathing"),
    Skill("cleaning", "保洁", "Cleaning"),
    Skill("escort", "陪同就医", "Medical escort"),
    Skill("rehab", "康复训练", "Rehabilitation"),
    Skill("medical", "医疗护理", "Medical nursing"),
    Skill("repair", "维修", "Repairs"),
    Skill("shopping", "代购代办", "Shopping and errands"),
    Skill("companion", "精神慰藉", "Companionship"),
    Skill("legal", "法律服务", "Legal aid"),
    Skill("haircut", "理发", "Haircut"),
)

CATEGORIES: tuple[Category, ...] = (
    Category("emergency", "紧急救援", "Emergency rescue", 10),
    Category("daily_care", "生活照料", "Daily-life care", 20),
    Category("meals", "助餐", "Meals", 30),
    Category("bathing", "助浴", "Bathing", 40),
    Category("cleaning", "助洁", "Cleaning", 50),
    Category("medical_escort", "陪同就医", "Medical escort", 60),
    Category("rehab_nursing", "康复护理", "Rehabilitation nursing", 70),
    Category("repairs", "维修", "Repairs", 80),
    Category("shopping", "代购", "Shopping", 90),
    Category("companionship", "精神慰藉", "Companionship", 100),
    Category("legal", "法律援助", "Legal aid", 110),
    Category("haircut", "理发", "Haircut", 120),
    Category("health", "健康管理", "Health monitoring", 130),
    Category("errands", "代办服务", "Errands", 140),
)

_D = 1440  # a day in minutes

ITEMS: tuple[Item, ...] = tuple(Item(*row, True) for row in (
    ("EM001", "emergency", "紧急上门查看", "Emergency on-site check",
     "次", 0, 60, 20, False, "emergency"),
    ("EM002", "emergency", "跌倒紧急救助", "Fall assistance",
     "次", 0, 60, 15, False, "emergency"),
    ("EM003", "emergency", "紧急送医陪护", "Emergency hospital escort",
     "次", 5000, 180, 30, False, "emergency"),
    ("EM004", "emergency", "夜间紧急照护", "Night emergency care",
     "小时", 4000, 60, 30, False, "emergency"),
    ("EM005", "emergency", "走失老人协寻", "Search for a missing elder",
     "次", 0, 240, 20, False, "emergency"),
    ("DL001", "daily_care", "上门生活照料", "Home personal care",
     "小时", 3500, 60, _D, True, "nursing"),
    ("DL002", "daily_care", "协助进食", "Feeding assistance",
     "次", 2500, 45, 240, True, "nursing"),
    ("DL003", "daily_care", "协助如厕", "Toileting assistance",
     "次", 2000, 30, 120, True, "nursing"),
    ("DL004", "daily_care", "翻身拍背", "Turning and back patting",
     "次", 2000, 30, 240, True, "nursing"),
    ("DL005", "daily_care", "更换衣物被褥", "Changing clothes and bedding",
     "次", 2500, 45, 480, True, "nursing"),
    ("DL006", "daily_care", "口腔清洁", "Oral care",
     "次", 1500, 20, 480, True, "nursing"),
    ("DL007", "daily_care", "修剪指甲", "Nail trimming",
     "次", 1500, 20, _D, True, "nursing"),
    ("DL008", "daily_care", "日间陪护", "Daytime attendance",
     "天", 15000, 480, _D, True, "nursing"),
    ("DL009", "daily_care", "夜间陪护", "Overnight attendance",
     "天", 18000, 720, _D, False, "nursing"),
    ("DL010", "daily_care", "助老员包月上门（每日1小时）", "Monthly home aide, one hour a day",
     "月", 90000, 60, 2 * _D, True, "nursing"),
    ("DL011", "daily_care", "协助服药", "Medication assistance",
     "次", 1000, 15, 240, True, "nursing"),
    ("DL012", "daily_care", "压疮预防护理", "Pressure-sore prevention care",
     "次", 3000, 30, 480, True, "nursing"),
    ("ME001", "meals", "送餐上门（午餐）", "Lunch delivered home",
     "份", 1200, 15, 180, True, "meals"),
    ("ME002", "meals", "送餐上门（晚餐）", "Dinner delivered home",
     "份", 1200, 15, 180, True, "meals"),
    ("ME003", "meals", "长者食堂就餐", "Meal at the community canteen",
     "份", 1000, 30, _D, True, "meals"),
    ("ME004", "meals", "软食流食定制", "Soft or liquid diet meal",
     "份", 1500, 15, 240, True, "meals"),
    ("ME005", "meals", "糖尿病餐", "Diabetic meal",
     "份", 1500, 15, 240, True, "meals"),
    ("ME006", "meals", "上门做饭", "Home cooking",
     "次", 3000, 90, _D, True, "meals"),
    ("ME007", "meals", "助餐包月（午餐）", "Monthly lunch delivery",
     "月", 30000, 15, 2 * _D, True, "meals"),
    ("BA001", "bathing", "上门助浴（可自理）", "Home bathing, self-care elder",
     "次", 8000, 60, 2 * _D, True, "bathing"),
    ("BA002", "bathing", "上门助浴（失能，移动浴缸）", "Home bathing with a mobile tub",
     "次", 18000, 90, 2 * _D, True, "bathing"),
    ("BA003", "bathing", "床上擦浴", "Bed bath",
     "次", 6000, 45, _D, True, "bathing"),
    ("BA004", "bathing", "床上洗头", "Hair washing in bed",
     "次", 3000, 30, _D, True, "bathing"),
    ("BA005", "bathing", "助浴点助浴", "Bathing at the care centre",
     "次", 5000, 60, 2 * _D, True, "bathing"),
    ("CL001", "cleaning", "居室日常保洁", "Routine home cleaning",
     "小时", 4000, 60, _D, True, "cleaning"),
    ("CL002", "cleaning", "厨房深度清洁", "Kitchen deep cleaning",
     "次", 15000, 180, 3 * _D, False, "cleaning"),
    ("CL003", "cleaning", "卫生间清洁消毒", "Bathroom cleaning and disinfection",
     "次", 8000, 90, 2 * _D, True, "cleaning"),
    ("CL004", "cleaning", "擦玻璃", "Window cleaning",
     "小时", 4500, 60, 3 * _D, False, "cleaning"),
    ("CL005", "cleaning", "衣物洗涤", "Laundry",
     "次", 2500, 60, _D, True, "cleaning"),
    ("CL006", "cleaning", "被褥拆洗", "Bedding washing",
     "次", 5000, 120, 3 * _D, True, "cleaning"),
    ("CL007", "cleaning", "油烟机清洗", "Range-hood cleaning",
     "次", 12000, 120, 3 * _D, False, "cleaning"),
    ("ES001", "medical_escort", "陪同就医（半天）", "Hospital escort, half a day",
     "次", 8000, 240, _D, True, "escort"),
    ("ES002", "medical_escort", "陪同就医（全天）", "Hospital escort, full day",
     "天", 15000, 480, _D, True, "escort"),
    ("ES003", "medical_escort", "代为挂号取药", "Registration and medicine pick-up",
     "次", 3000, 120, _D, True, "escort"),
    ("ES004", "medical_escort", "陪同体检", "Escort to a health check-up",
     "次", 8000, 240, 2 * _D, False, "escort"),
    ("ES005", "medical_escort", "出院接送", "Hospital discharge pick-up",
     "次", 10000, 180, _D, False, "escort"),
    ("RN001", "rehab_nursing", "康复训练指导", "Rehabilitation exercise coaching",
     "次", 8000, 60, 2 * _D, True, "rehab"),
    ("RN002", "rehab_nursing", "肢体被动活动", "Passive limb exercise",
     "次", 6000, 45, 2 * _D, True, "rehab"),
    ("RN003", "rehab_nursing", "伤口换药", "Wound dressing",
     "次", 5000, 30, 480, True, "medical"),
    ("RN004", "rehab_nursing", "鼻饲护理", "Nasogastric tube care",
     "次", 6000, 30, 480, True, "medical"),
    ("RN005", "rehab_nursing", "导尿管护理", "Urinary catheter care",
     "次", 8000, 30, 480, True, "medical"),
    ("RN006", "rehab_nursing", "中医推拿按摩", "TCM massage",
     "次", 8000, 60, 2 * _D, False, "rehab"),
    ("RN007", "rehab_nursing", "艾灸理疗", "Moxibustion therapy",
     "次", 6000, 45, 2 * _D, False, "rehab"),
    ("RN008", "rehab_nursing", "肌肉注射", "Intramuscular injection",
     "次", 3000, 20, 240, False, "medical"),
    ("RP001", "repairs", "水管水龙头维修", "Plumbing repair",
     "次", 5000, 60, _D, False, "repair"),
    ("RP002", "repairs", "电路检修", "Electrical repair",
     "次", 6000, 60, _D, False, "repair"),
    ("RP003", "repairs", "门锁维修更换", "Door-lock repair or replacement",
     "次", 8000, 45, 720, False, "repair"),
    ("RP004", "repairs", "燃气安全检查", "Gas safety check",
     "次", 0, 30, 2 * _D, False, "repair"),
    ("RP005", "repairs", "家电维修", "Appliance repair",
     "次", 8000, 90, 2 * _D, False, "repair"),
    ("RP006", "repairs", "适老化改造评估", "Home-adaptation assessment",
     "次", 0, 60, 3 * _D, False, "repair"),
    ("RP007", "repairs", "安装扶手", "Grab-bar installation",
     "次", 12000, 90, 3 * _D, True, "repair"),
    ("RP008", "repairs", "更换灯泡", "Light-bulb replacement",
     "次", 2000, 20, _D, False, "repair"),
    ("SH001", "shopping", "代购生活用品", "Groceries and daily goods",
     "次", 1500, 60, 480, False, "shopping"),
    ("SH002", "shopping", "代购药品", "Medicine purchase",
     "次", 1500, 60, 240, False, "shopping"),
    ("SH003", "shopping", "代买蔬菜水果", "Fresh vegetables and fruit",
     "次", 1500, 60, 480, False, "shopping"),
    ("SH004", "shopping", "送水送米面", "Water, rice and flour delivery",
     "次", 1000, 30, 480, False, "shopping"),
    ("CP001", "companionship", "上门陪伴聊天", "Home companionship visit",
     "小时", 3000, 60, _D, True, "companion"),
    ("CP002", "companionship", "读书读报", "Reading aloud",
     "小时", 3000, 60, 2 * _D, True, "companion"),
    ("CP003", "companionship", "心理疏导", "Counselling",
     "次", 10000, 60, 2 * _D, False, "companion"),
    ("CP004", "companionship", "电话关爱", "Caring phone call",
     "次", 0, 15, _D, False, "companion"),
    ("CP005", "companionship", "陪同散步", "Accompanied walk",
     "小时", 3000, 60, _D, True, "companion"),
    # active care's last step (ANXIN_CARE_HOME_VISIT_ITEM): paid by the care programme, not the
    # elder's subsidised hours; the same day
    ("CP006", "companionship", "关爱上门探访", "Active-care home visit",
     "次", 0, 60, 240, False, "companion"),
    ("LG001", "legal", "法律咨询", "Legal consultation",
     "次", 0, 60, 3 * _D, False, "legal"),
    ("LG002", "legal", "代写法律文书", "Drafting legal documents",
     "次", 0, 90, 3 * _D, False, "legal"),
    ("LG003", "legal", "遗嘱继承咨询", "Wills and inheritance advice",
     "次", 0, 90, 3 * _D, False, "legal"),
    ("LG004", "legal", "赡养纠纷调解", "Family-support dispute mediation",
     "次", 0, 120, 3 * _D, False, "legal"),
    ("HC001", "haircut", "上门理发", "Home haircut",
     "次", 2000, 30, 2 * _D, True, "haircut"),
    ("HC002", "haircut", "上门剃须修面", "Home shave",
     "次", 1500, 20, 2 * _D, True, "haircut"),
    ("HC003", "haircut", "助老理发点理发", "Haircut at the community barber",
     "次", 1000, 30, 2 * _D, True, "haircut"),
    ("HM001", "health", "血压血糖测量", "Blood-pressure and glucose check",
     "次", 1000, 20, _D, True, "medical"),
    ("HM002", "health", "健康评估建档", "Health assessment and record",
     "次", 0, 60, 3 * _D, False, "medical"),
    ("HM003", "health", "家庭医生随访", "Family-doctor follow-up",
     "次", 0, 30, 3 * _D, False, "medical"),
    ("HM004", "health", "用药指导", "Medication review",
     "次", 2000, 30, 2 * _D, False, "medical"),
    ("ER001", "errands", "代缴水电燃气费", "Paying utility bills",
     "次", 1000, 30, _D, False, "shopping"),
    ("ER002", "errands", "代办证件业务", "Paperwork at public offices",
     "次", 2000, 120, 3 * _D, False, "shopping"),
    ("ER003", "errands", "代取快递", "Parcel pick-up",
     "次", 500, 20, 480, False, "shopping"),
    ("ER004", "errands", "代办高龄津贴申领", "Help claiming the old-age allowance",
     "次", 0, 60, 3 * _D, False, "shopping"),
))

# Certificates a staff member may hold, by skill.
CERTIFICATES: dict[str, tuple[str, ...]] = {
    "emergency": ("红十字救护员证", "急救员证"),
    "nursing": ("养老护理员四级", "养老护理员三级", "养老护理员五级", "医疗护理员证"),
    "meals": ("中式烹调师五级",),
    "bathing": ("养老护理员四级", "助浴师培训合格证"),
    "cleaning": ("家政服务员四级",),
    "escort": ("养老护理员五级", "医疗护理员证"),
    "rehab": ("康复治疗师资格证", "保健按摩师四级"),
    "medical": ("护士执业证书",),
    "repair": ("低压电工作业证", "燃气具安装维修工"),
    "shopping": (),
    "companion": ("心理咨询师三级", "社会工作者（初级）"),
    "legal": ("法律职业资格证书",),
    "haircut": ("美发师五级",),
}
COMMON_CERTIFICATE = "健康证"

# Provider names: brand + kind; the district prefix comes from seed_lists.DISTRICT_SHORT.
PROVIDER_BRANDS: tuple[tuple[str, str], ...] = (
    ("康乐", "Kangle"), ("颐和", "Yihe"), ("福寿", "Fushou"), ("仁爱", "Ren'ai"),
    ("安康", "Ankang"),
    ("乐龄", "Leling"), ("夕阳红", "Xiyanghong"), ("孝德", "Xiaode"), ("惠民", "Huimin"),
    ("同心", "Tongxin"), ("暖阳", "Nuanyang"), ("金秋", "Jinqiu"), ("爱心", "Aixin"),
    ("馨家", "Xinjia"), ("康泰", "Kangtai"), ("长青", "Changqing"), ("颐养", "Yiyang"),
    ("和美", "Hemei"), ("善德", "Shande"), ("鹤寿", "Heshou"), ("幸福里", "Xingfuli"),
    ("安馨", "Anxin"), ("悦享", "Yuexiang"), ("椿萱", "Chunxuan"), ("桑榆", "Sangyu"),
    ("九如", "Jiuru"), ("万福", "Wanfu"), ("泰和", "Taihe"), ("怡康", "Yikang"), ("慈航", "Cihang"),
    ("海之韵", "Haizhiyun"), ("蓝海", "Lanhai"))
PROVIDER_KINDS: tuple[tuple[str, str], ...] = (
    ("居家养老服务中心", "Home Care Service Centre"),
    ("养老服务有限公司", "Elderly Care Services Co., Ltd."),
    ("家政服务有限公司", "Housekeeping Services Co., Ltd."),
    ("护理站", "Nursing Station"),
    ("康养服务有限公司", "Health and Care Services Co., Ltd."),
    ("社会工作服务中心", "Social Work Service Centre"))
# Providers per district (30 in all), in district order; pa.001 is always in 环翠区.
PROVIDERS_PER_DISTRICT: dict[str, int] = {
    "371002": 7, "371003": 6, "371082": 7, "371083": 4, "371071": 2, "371072": 2, "371073": 2}
SHIFTS: tuple[tuple[str, str], ...] = (("07:00", "15:00"), ("08:00", "18:00"), ("14:00", "22:00"))
