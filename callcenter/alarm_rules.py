"""Alarm decisions as plain functions: which event raises which alarm, how urgent it is, which
state changes are allowed, when an unanswered alarm escalates. No I/O; the clock is an input."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from callcenter import geo

EVENT_TYPES = ("sos", "fall", "wander", "smoke", "gas", "water", "door", "inactivity",
               "low_battery", "heartbeat", "location")
ALARM_KINDS = ("sos", "fall", "wander", "smoke", "gas", "water", "door", "inactivity",
               "low_battery")
# 1 is the most urgent. Life-threatening first; a low battery is a notice, not an emergency.
PRIORITY: dict[str, int] = {"sos": 1, "fall": 1, "smoke": 1, "gas": 1, "water": 2, "wander": 2,
                            "inactivity": 3, "door": 3, "low_battery": 5,
                            "missed_visit": 3, "care_attention": 3}
RAISES_DIRECTLY = frozenset({"sos", "fall", "smoke", "gas", "water", "wander", "inactivity",
                             "low_battery"})
OPEN_STATES = ("received", "queued", "offered", "acknowledged", "in_progress")
OUTCOMES = ("false_alarm", "resolved_by_phone", "contact_attended", "provider_attended",
            "ambulance", "police", "other")
# An SOS phone's call and its device event within this window are one alarm.
SOS_MERGE_WINDOW = dt.timedelta(minutes=2)

# Default silence after which a device raises `inactivity`, by kind (seconds). SOS phones and
# fixed sensors report about daily; bracelets every few minutes while worn.
HEARTBEAT_TIMEOUT_S: dict[str, int] = {
    "sos_phone": 26 * 3600, "bracelet": 2 * 3600, "fall_sensor": 26 * 3600,
    "smoke": 26 * 3600, "gas": 26 * 3600, "water": 26 * 3600, "door": 26 * 3600,
    "bed": 26 * 3600}


@dataclass(frozen=True)
class Geofence:
    lat: float
    lon: float
    radius_m: int

    def contains(self, lat: float, lon: float) -> bool:
        return geo.distance_m(self.lat, self.lon, lat, lon) <= self.radius_m


@dataclass(frozen=True)
class Decision:
    """What one device event does: the alarm it raises (if any) and the new geofence state."""
    raise_kind: str | None
    outside_geofence: bool


def fence_state(fence: Geofence | None, position: tuple[float, float] | None) -> bool | None:
    """Whether a position is outside the fence; None when there is no fence or no position (the
    device's last known state stands)."""
    if fence is None or position is None:
        return None
    return not fence.contains(*position)


def may_raise(event_type: str, outside_now: bool | None) -> bool:
    """Whether the event could raise an alarm, whatever the device's state before it: only such
    events need the device's state read under a lock before the decision."""
    return event_type in RAISES_DIRECTLY or (event_type == "location" and outside_now is True)


def decide(event_type: str, *, fence: Geofence | None, was_outside: bool,
           position: tuple[float, float] | None) -> Decision:
    """Raise an alarm for an emergency type; for a position, raise `wander` on leaving the fence
    (once per excursion: only the crossing from inside to outside raises)."""
    now_outside = fence_state(fence, position)
    outside = was_outside if now_outside is None else now_outside
    if event_type in RAISES_DIRECTLY:
        return Decision(event_type, outside)
    if event_type == "location" and outside and not was_outside:
        return Decision("wander", True)
    return Decision(None, outside)


# state -> action -> new state
TRANSITIONS: dict[str, dict[str, str]] = {
    "received": {"queue": "queued"},
    "queued": {"offer": "offered", "escalate": "offered", "acknowledge": "acknowledged"},
    "offered": {"offer": "offered", "escalate": "offered", "acknowledge": "acknowledged"},
    "acknowledged": {"handle": "in_progress", "resolve": "resolved"},
    "in_progress": {"handle": "in_progress", "resolve": "resolved"},
    "resolved": {"close": "closed"},
    "closed": {},
}


class TransitionError(ValueError):
    """The action is not allowed in the alarm's current state."""


def transition(state: str, action: str) -> str:
    try:
        return TRANSITIONS[state][action]
    except KeyError:
        raise TransitionError(f"{action} not allowed when {state}") from None


@dataclass(frozen=True)
class Escalation:
    level: int
    deadline: dt.datetime | None  # when to escalate again; None at the last level


def escalation_after(level: int, created_at: dt.datetime, *, offer_s: int, city_s: int
                     ) -> Escalation:
    """Level 0: one operator until created+offer_s; level 1: the whole region until
    created+city_s; level 2: the whole city and supervisors, no further step."""
    if level == 0:
        return Escalation(0, created_at + dt.timedelta(seconds=offer_s))
    if level == 1:
        return Escalation(1, created_at + dt.timedelta(seconds=city_s))
    return Escalation(2, None)


def level_due(created_at: dt.datetime, now: dt.datetime, *, offer_s: int, city_s: int) -> int:
    """The escalation level an unacknowledged alarm should be at, by its age."""
    age_s = (now - created_at).total_seconds()
    if age_s >= city_s:
        return 2
    if age_s >= offer_s:
        return 1
    return 0


def parse_timeouts(text: str) -> dict[str, int]:
    """'bracelet=7200,sos_phone=93600' over the defaults; unknown kinds are an error."""
    out = dict(HEARTBEAT_TIMEOUT_S)
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, seconds = part.partition("=")
        if kind not in out or not seconds.isdigit() or int(seconds) < 60:
            raise ValueError(f"bad heartbeat timeout {part!r}: use kind=seconds (≥ 60), kinds: "
                             f"{', '.join(out)}")
        out[kind] = int(seconds)
    return out
