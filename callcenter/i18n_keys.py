"""Message ids built at run time, which `pybabel extract` cannot find in the source.

`t(`ak_${kind}`)` in a script, `t('role_' ~ user.role)` in a template, `t("os_" + s)` in Python,
or a key held in a variable (`t(OK_TEXT[act])`): the ids are listed here, family by family, and
`python -m callcenter i18n extract` adds them to messages.pot so that `update` keeps them.
tests/test_i18n_catalogues.py checks that every one has a translation in both languages.
"""

from __future__ import annotations

from dispatch.states import ACTORS, STATES

# prefix -> the values that follow it
FAMILIES: dict[str, tuple[str, ...]] = {
    # alarms (console.js, map.js, profile.js, dashboard.js, report_tables.py)
    "ak_": ("sos", "fall", "wander", "smoke", "gas", "water", "door", "inactivity",
            "low_battery", "missed_visit", "care_attention"),
    "as_": ("received", "queued", "offered", "acknowledged", "in_progress", "resolved", "closed"),
    "act_": ("note", "call_elder", "call_contact", "emergency_call", "onsite_check"),
    "res_": ("reached", "no_answer", "busy", "wrong_number"),
    "svc_": ("120", "110", "119"),
    "out_": ("false_alarm", "resolved_by_phone", "contact_attended", "provider_attended",
             "ambulance", "police", "other"),
    "esc_": ("0", "1", "2"),
    "call_": ("ringing", "answered", "ended", "abandoned"),
    "con_": ("connecting", "connected", "reconnecting"),
    "dash_": ("connecting", "connected", "reconnecting", "offline", "out_open"),
    # elders, devices, regions, users (templates and profile.js)
    "kind_": ("sos_phone", "bracelet", "fall_sensor", "smoke", "gas", "water", "door", "bed"),
    "dstat_": ("active", "retired"),
    "status_": ("active", "suspended", "moved", "deceased"),
    "level_": ("city", "district", "town", "community"),
    "role_": ("admin", "supervisor", "operator", "provider_admin", "provider_staff"),
    # orders (orders.js, dashboard.js, report_tables.py)
    "os_": STATES,
    "ord_actor_": ACTORS,
    "ord_ev_": ("create", "enqueue", "offer", "decline", "expire", "widen", "no_candidate",
                "requeue", "assign", "accept", "release", "travel", "check_in", "check_out",
                "review", "cancel", "fail", "missed_visit", "approve_minutes",
                "self_pay_confirmed"),
    "ord_act_": ("assign", "requeue", "cancel", "release", "fail", "review", "approve_minutes"),
    # care programmes (outbound.js, dashboard_care.js, followup.js, quality.js and pages)
    "prof_": ("h", "hm"),  # common.js hoursMinutes
    "care_m_": ("phone", "video", "chance", "home"),
    "care_o_": ("well", "needs_service", "needs_attention", "unreachable"),
    "care_r_": ("monthly", "high_risk", "after_alarm", "inactivity"),
    "care_s_": ("call", "retry", "contacts"),
    "care_script_": ("monthly", "high_risk", "after_alarm", "inactivity", "contacts"),
    "fu_cat_": ("attitude", "quality", "lateness", "charges", "safety", "other"),
    "qa_st_": ("open", "in_progress", "resolved"),
    "qa_kind_": ("nightly", "manual"),
    "ord_confirm_": ("assign", "requeue", "cancel", "release", "fail", "review",
                     "approve_minutes"),
    "ord_help_": ("assign", "requeue", "cancel", "release", "fail", "review", "approve_minutes"),
    "ord_of_": ("pending", "accepted", "declined", "expired", "withdrawn"),
    "ord_part_": ("distance", "fairness", "preferred", "rating"),
    "ord_src_": ("console", "alarm", "api", "plan"),
    "ord_wd_": ("1", "2", "3", "4", "5", "6", "7"),
    "ord_wds_": ("1", "2", "3", "4", "5", "6", "7"),
    # the provider page (provider.js)
    "pv_": ("connected", "reconnecting", "expired", "offer_taken", "offer_withdrawn",
            "check_in_ok", "check_out_ok", "travel_ok", "release_ok", "fail_ok", "none_active",
            "none_today", "none_past", "reason_fail", "reason_release"),
    # report figures (report_tables.py, reports.js: "rep_" + the figure's dotted name)
    "rep_": ("alarms_total", "answer_alarms", "answer_median_s", "answer_p95_s",
             "answer_pct_180s", "answer_pct_60s", "answer_unacknowledged", "calls_abandoned",
             "calls_answer_rate", "calls_answered", "calls_inbound", "calls_inbound_answered",
             "calls_outbound", "calls_ring_median_s", "calls_ringing", "calls_total",
             "calls_unknown_caller", "calls_with_alarm", "orders_cancelled",
             "orders_checked_in", "orders_completed", "orders_completion_rate",
             "orders_no_candidate", "orders_punctual", "orders_punctuality", "orders_total"),
}

# ids looked up through a variable or a table of keys, or handed to a script whole
SINGLE: tuple[str, ...] = (
    "M", "F", "urban", "rural", "relation", "results", "role", "staff", "demo_logins",
    "map_layers", "map_no_position", "ord_answered_at", "ord_offer_state", "ord_offered_at",
    "ord_parts", "ord_score", "prof_battery", "prof_last_heartbeat", "prof_status",
    "pv_address", "pv_elder", "pv_phone", "rep_failed", "rep_loading", "rep_period",
)


def dynamic_ids() -> list[str]:
    """Every id listed here, families expanded, sorted."""
    ids = {prefix + value for prefix, values in FAMILIES.items() for value in values}
    return sorted(ids | set(SINGLE))
