"""UI text of the console map (Chinese, English). Merged into i18n.MESSAGES; the console passes
the map_ keys to web/static/map.js."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "map_title": ("地图", "Map"),
    "map_label": ("威海市地图：警情、工单、在班服务人员与当前老人",
                  "Map of Weihai: alarms, orders, staff on shift and the elder on screen"),
    "map_layers": ("图层", "Layers"),
    "map_alarms": ("未结警情", "Open alarms"),
    "map_orders": ("进行中工单", "Active orders"),
    "map_staff": ("在班服务人员", "Staff on shift"),
    "map_elder": ("当前老人", "Elder on screen"),
    "map_districts": ("区界", "Districts"),
    "map_fit": ("全市", "Whole city"),
    "map_fit_help": ("显示全市范围", "Show the whole city"),
    "map_counts": ("警情 {a} · 工单 {o} · 人员 {s}", "Alarms {a} · orders {o} · staff {s}"),
    "map_no_position": ("{n} 项无坐标，未标出", "{n} without coordinates, not shown"),
    "map_approx": ("无定位：标在所属辖区中心附近", "No fix: drawn near its region's centre"),
    "map_outline_note": ("区界为简化示意，非测绘边界；坐标系 GCJ-02",
                         "Outlines are simplified sketches, not survey boundaries; GCJ-02"),
    "map_open_alarm": ("打开警情", "Open alarm"),
    "map_open_order": ("打开工单", "Open order"),
    "map_alarm_no": ("警情", "Alarm"),
    "map_order_no": ("工单", "Order"),
    "map_priority": ("优先级", "Priority"),
    "map_provider": ("服务商", "Provider"),
    "map_load": ("手头工单", "Jobs in hand"),
    "map_located_at": ("定位时间", "Located at"),
    "map_staff_no_fix": ("{n} 人无近期定位", "{n} without a recent location"),
    "map_staff_failed": ("服务人员位置加载失败，稍后重试", "Could not load staff positions; retrying"),
    "map_staff_truncated": ("仅显示前 {n} 人", "Showing the first {n} only"),
    "map_failed": ("地图数据加载失败", "Could not load the map outlines"),
    "map_elder_here": ("当前查看的老人", "The elder on screen"),
}
