"""The city simulator's schedule (`callcenter simulate`), as pure functions: given a seed, a
snapshot of the city, rates and a time-compression factor, what happens when. No I/O and no
clock: the same inputs give the same schedule, byte for byte.

Sizes follow Weihai's 12349 line: about 3,500 calls a day, ~5 % of them alarms, bracelets that
send a heartbeat every 30 minutes and a location every 15. `speed` compresses time (60 = an
hour of the city per wall-clock minute); times in the schedule are wall-clock seconds from the
start of the run, and durations inside a call are already divided by `speed`.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

DAY_S = 86_400.0
ALARM_KINDS: tuple[tuple[str, float], ...] = (("sos", 0.6), ("fall", 0.3), ("smoke", 0.05),
                                              ("gas", 0.05))
OUTCOMES: tuple[tuple[str, float], ...] = (("false_alarm", 0.45), ("resolved_by_phone", 0.3),
                                           ("contact_attended", 0.15),
                                           ("provider_attended", 0.1))


@dataclass(frozen=True)
class Elder:
    id: int
    phones: tuple[str, ...]
    lat: float | None
    lon: float | None
    region_path: str


@dataclass(frozen=True)
class Device:
    serial: str
    kind: str
    elder_id: int | None
    secret: str
    fence: tuple[float, float, int] | None = None  # geofence lat, lon, radius


@dataclass(frozen=True)
class Login:
    """An operator or a provider staff member the simulator logs in as."""
    username: str
    region_path: str
    staff_id: int | None = None
    home: tuple[float, float] | None = None


@dataclass(frozen=True)
class Snapshot:
    elders: tuple[Elder, ...]
    devices: tuple[Device, ...]
    operators: tuple[Login, ...]
    staff: tuple[Login, ...]
    items: tuple[str, ...]  # service items the simulated staff can do


@dataclass(frozen=True)
class Rates:
    calls_per_day: float = 3500.0
    alarm_share: float = 0.05  # device alarms per day = calls_per_day × alarm_share
    service_share: float = 0.25  # answered calls that ask for a service (an order)
    abandon_share: float = 0.06  # calls hung up while ringing
    unknown_share: float = 0.05  # callers whose number matches no elder
    sos_call_share: float = 0.5  # an SOS press followed by the SOS phone's call
    heartbeat_min: float = 30.0  # per bracelet
    location_min: float = 15.0  # per bracelet
    low_battery_per_day: float = 0.002  # per bracelet
    bracelets: int | None = None  # simulated bracelets (default: the snapshot's)
    ring_s: tuple[float, float] = (3.0, 20.0)  # city seconds until answered / abandoned
    talk_s: tuple[float, float] = (60.0, 300.0)
    handle_s: tuple[float, float] = (30.0, 240.0)  # an operator's work on an alarm
    decline_share: float = 0.10
    no_show_share: float = 0.03


@dataclass(frozen=True)
class Action:
    """One scheduled thing. kind "device": a signed device event; kind "call": a whole call
    (ringing, then answered or abandoned after `ring_after`, hangup after `talk_after`)."""
    at: float
    kind: str
    ref: str  # event_id or the CTI call_id, unique in the run
    serial: str = ""
    event_type: str = ""
    location: tuple[float, float] | None = None
    battery: int | None = None
    ani: str = ""
    elder_id: int | None = None
    agent: str = ""
    abandoned: bool = False
    ring_after: float = 0.0
    talk_after: float = 0.0
    item_code: str = ""  # a service request: the answering operator creates this order
    handle_after: float = 0.0


@dataclass(frozen=True)
class Plan:
    seed: int
    speed: float
    duration_s: float
    actions: tuple[Action, ...]
    counts: dict[str, int] = field(default_factory=dict)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for a in self.actions:
            h.update(repr(a).encode())
        return h.hexdigest()


def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"anxin-sim:{seed}:{stream}")


def _arrivals(rng: random.Random, per_wall_s: float, duration_s: float) -> list[float]:
    """Poisson arrival times in [0, duration)."""
    out: list[float] = []
    if per_wall_s <= 0:
        return out
    t = rng.expovariate(per_wall_s)
    while t < duration_s:
        out.append(round(t, 4))
        t += rng.expovariate(per_wall_s)
    return out


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, _ in weighted]
    return rng.choices(names, weights=[w for _, w in weighted])[0]


def covers(operator_path: str, region_path: str) -> bool:
    return region_path == operator_path or region_path.startswith(operator_path + ".")


def agent_for(snapshot: Snapshot, elder: Elder | None, rng: random.Random) -> str:
    """An operator whose region covers the elder's (the most local ones first)."""
    ops = snapshot.operators
    if elder is not None:
        local = [o for o in ops if covers(o.region_path, elder.region_path)]
        if local:
            deepest = max(len(o.region_path) for o in local)
            ops = tuple(o for o in local if len(o.region_path) == deepest) + tuple(
                o for o in local if len(o.region_path) != deepest)
            return rng.choice(ops[:max(1, len(ops) // 2 + 1)]).username
    return rng.choice(ops).username


def jitter(point: tuple[float, float], rng: random.Random, metres: float
           ) -> tuple[float, float]:
    lat, lon = point
    north, east = rng.uniform(-metres, metres), rng.uniform(-metres, metres)
    return (round(lat + north / 111_320.0, 6),
            round(lon + east / (111_320.0 * math.cos(math.radians(lat))), 6))


def build(seed: int, snapshot: Snapshot, rates: Rates, speed: float, duration_s: float,
          run_id: str = "sim") -> Plan:
    """The whole schedule of a run of `duration_s` wall seconds at `speed`."""
    if speed <= 0 or duration_s < 0:
        raise ValueError("speed must be > 0 and duration ≥ 0")
    elders = {e.id: e for e in snapshot.elders}
    actions: list[Action] = []
    counts = {"calls": 0, "service_calls": 0, "abandoned": 0, "alarm_events": 0,
              "heartbeats": 0, "locations": 0, "low_battery": 0}
    sim_rate = speed / DAY_S  # city days per wall second
    # --- calls -------------------------------------------------------------------------------
    rng = _rng(seed, "calls")
    with_phone = [e for e in snapshot.elders if e.phones]
    for n, at in enumerate(_arrivals(rng, rates.calls_per_day * sim_rate, duration_s)):
        unknown = not with_phone or rng.random() < rates.unknown_share
        elder = None if unknown else rng.choice(with_phone)
        ani = f"+86139{rng.randrange(10**8):08d}" if elder is None else rng.choice(elder.phones)
        actions.append(_call(rng, snapshot, rates, speed, at, f"{run_id}-c{n}", ani, elder,
                             counts, service=elder is not None and elder.lat is not None))
    # --- alarms from devices (and an SOS phone's call) ---------------------------------------
    rng = _rng(seed, "alarms")
    devices = [d for d in snapshot.devices if d.elder_id in elders]
    for n, at in enumerate(_arrivals(rng, rates.calls_per_day * rates.alarm_share * sim_rate,
                                     duration_s) if devices else []):
        device = rng.choice(devices)
        kind = _pick(rng, ALARM_KINDS)
        elder = elders[device.elder_id] if device.elder_id is not None else None
        home = (elder.lat, elder.lon) if elder and elder.lat is not None and elder.lon is not None \
            else None
        actions.append(Action(
            at=at, kind="device", ref=f"{run_id}-a{n}", serial=device.serial, event_type=kind,
            location=None if home is None else jitter(home, rng, 20), elder_id=device.elder_id,
            handle_after=rng.uniform(*rates.handle_s) / speed))
        counts["alarm_events"] += 1
        if kind == "sos" and device.kind == "sos_phone" and elder is not None and elder.phones \
                and rng.random() < rates.sos_call_share:
            actions.append(_call(rng, snapshot, rates, speed, round(at + 2.0 / speed, 4),
                                 f"{run_id}-s{n}", elder.phones[0], elder, counts,
                                 service=False))
    # --- bracelets: heartbeats, locations, the odd low battery -------------------------------
    rng = _rng(seed, "bracelets")
    bracelets = [d for d in devices if d.kind == "bracelet"] or devices
    streams = len(bracelets) if rates.bracelets is None else rates.bracelets
    for i in range(streams if bracelets else 0):
        device = bracelets[i % len(bracelets)]
        elder = elders[device.elder_id] if device.elder_id is not None else None
        centre = device.fence[:2] if device.fence else (
            (elder.lat, elder.lon) if elder and elder.lat is not None and elder.lon is not None
            else None)
        for kind, minutes in (("heartbeat", rates.heartbeat_min),
                              ("location", rates.location_min)):
            if centre is None and kind == "location":
                continue
            period = minutes * 60.0 / speed
            t = rng.uniform(0, period)
            while t < duration_s:
                where = None if centre is None else jitter(centre, rng, 25)
                actions.append(Action(at=round(t, 4), kind="device",
                                      ref=f"{run_id}-{kind[0]}{i}-{int(t * 1000)}",
                                      serial=device.serial, event_type=kind, location=where,
                                      battery=rng.randint(30, 100), elder_id=device.elder_id))
                counts["heartbeats" if kind == "heartbeat" else "locations"] += 1
                t += period
        if rng.random() < rates.low_battery_per_day * speed * duration_s / DAY_S:
            actions.append(Action(at=round(rng.uniform(0, duration_s), 4), kind="device",
                                  ref=f"{run_id}-lb{i}", serial=device.serial,
                                  event_type="low_battery", battery=rng.randint(3, 15),
                                  elder_id=device.elder_id,
                                  handle_after=rng.uniform(*rates.handle_s) / speed))
            counts["low_battery"] += 1
    actions.sort(key=lambda a: (a.at, a.ref))
    return Plan(seed, speed, duration_s, tuple(actions), counts)


def _call(rng: random.Random, snapshot: Snapshot, rates: Rates, speed: float, at: float,
          ref: str, ani: str, elder: Elder | None, counts: dict[str, int], *, service: bool
          ) -> Action:
    abandoned = rng.random() < rates.abandon_share
    wants = (service and not abandoned and bool(snapshot.items)
             and rng.random() < rates.service_share)
    counts["calls"] += 1
    counts["abandoned"] += abandoned
    counts["service_calls"] += wants
    return Action(
        at=at, kind="call", ref=ref, ani=ani, elder_id=None if elder is None else elder.id,
        agent=agent_for(snapshot, elder, rng) if snapshot.operators else "",
        abandoned=abandoned or not snapshot.operators,
        ring_after=round(rng.uniform(*rates.ring_s) / speed, 4),
        talk_after=round(rng.uniform(*rates.talk_s) / speed, 4),
        item_code=rng.choice(snapshot.items) if wants else "")


def staff_choice(seed: int, username: str, offer_id: int, decline_share: float,
                 no_show_share: float) -> str:
    """What a simulated staff member does with an offer: accept, decline or no_show (accepts,
    then never arrives). Deterministic in (seed, who, offer)."""
    digest = hashlib.sha256(f"{seed}:{username}:{offer_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < decline_share:
        return "decline"
    if u < decline_share + no_show_share:
        return "no_show"
    return "accept"


def outcome_for(seed: int, alarm_id: int) -> str:
    rng = _rng(seed, f"outcome:{alarm_id}")
    return _pick(rng, OUTCOMES)
