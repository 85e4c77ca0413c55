"""The city simulator's schedule (`callcenter simulate`), as pure functions: given a seed, a
snapshot of the city, rates and a time-compression factor, what happens when. No I/O and no
clock: the same inputs give the same schedule, byte for byte.

Sizes follow Weihai's 12349 line: about 3,500 calls a day, ~5 % of them alarms, bracelets that
send a heartbeat every 30 minutes and a location every 15. `speed` compresses time (60 = an
hour of the city per wall-clock minute); times in the schedule are wall-clock seconds from the
start of the run, and durations inside a call are already divided by `speed`.

`stream` yields the schedule lazily, in time order (a merge of per-stream generators, each with
its own seeded RNG), so a whole compressed day never sits in memory; `build` holds it all, for
tests and small runs.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

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
        return fingerprint(self.actions)


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


PARTS = ("calls", "alarms", "bracelets")


def stream(seed: int, snapshot: Snapshot, rates: Rates, speed: float, duration_s: float,
           run_id: str = "sim", *, counts: dict[str, int] | None = None,
           parts: tuple[str, ...] = PARTS, shard: tuple[int, int] = (0, 1)) -> Iterator[Action]:
    """The schedule of a run of `duration_s` wall seconds at `speed`, generated lazily in time
    order: a merge of one generator per stream (the calls, the alarms, each bracelet's
    heartbeats and locations, the low batteries), each with its own seeded RNG, so memory
    stays flat however long the day. `counts` (if given) is filled in as actions are yielded.
    `parts` picks streams; `shard=(k, n)` keeps the bracelets i with i % n == k, so n processes
    can send disjoint slices of the same schedule."""
    if speed <= 0 or duration_s < 0:
        raise ValueError("speed must be > 0 and duration ≥ 0")
    if not 0 <= shard[0] < shard[1]:
        raise ValueError("shard must be (k, n) with 0 ≤ k < n")
    tally = counts if counts is not None else {}
    for key in COUNT_KEYS:
        tally.setdefault(key, 0)
    elders = {e.id: e for e in snapshot.elders}
    devices = [d for d in snapshot.devices if d.elder_id in elders]
    streams: list[Iterator[Action]] = []
    if "calls" in parts:
        streams.append(_calls(seed, snapshot, rates, speed, duration_s, run_id, tally))
    if "alarms" in parts and devices:
        streams.append(_alarms(seed, snapshot, elders, devices, rates, speed, duration_s, run_id,
                               tally))
    if "bracelets" in parts:
        streams += _bracelet_streams(seed, elders, devices, rates, speed, duration_s, run_id,
                                     tally, shard)
    return heapq.merge(*streams, key=lambda a: a.at)


COUNT_KEYS = ("calls", "service_calls", "abandoned", "alarm_events", "heartbeats", "locations",
              "low_battery")


def build(seed: int, snapshot: Snapshot, rates: Rates, speed: float, duration_s: float,
          run_id: str = "sim") -> Plan:
    """The whole schedule held in memory (tests and small runs; the simulator streams)."""
    counts: dict[str, int] = {}
    actions = tuple(stream(seed, snapshot, rates, speed, duration_s, run_id, counts=counts))
    return Plan(seed, speed, duration_s, actions, counts)


def fingerprint(actions: Iterable[Action]) -> str:
    """A digest of a schedule, computed as it streams."""
    h = hashlib.sha256()
    for a in actions:
        h.update(repr(a).encode())
    return h.hexdigest()


def _calls(seed: int, snapshot: Snapshot, rates: Rates, speed: float, duration_s: float,
           run_id: str, counts: dict[str, int]) -> Iterator[Action]:
    rng = _rng(seed, "calls")
    with_phone = [e for e in snapshot.elders if e.phones]
    for n, at in enumerate(_arrivals(rng, rates.calls_per_day * speed / DAY_S, duration_s)):
        unknown = not with_phone or rng.random() < rates.unknown_share
        elder = None if unknown else rng.choice(with_phone)
        ani = f"+86139{rng.randrange(10**8):08d}" if elder is None else rng.choice(elder.phones)
        yield _call(rng, snapshot, rates, speed, at, f"{run_id}-c{n}", ani, elder, counts,
                    service=elder is not None and elder.lat is not None)


def _alarms(seed: int, snapshot: Snapshot, elders: dict[int, Elder], devices: list[Device],
            rates: Rates, speed: float, duration_s: float, run_id: str, counts: dict[str, int]
            ) -> Iterator[Action]:
    """Device alarms, and an SOS phone's call 2 city seconds after its press (held back in a
    small heap until no earlier alarm can follow, so the stream stays in time order)."""
    rng = _rng(seed, "alarms")
    held: list[tuple[float, int, Action]] = []
    for n, at in enumerate(_arrivals(rng, rates.calls_per_day * rates.alarm_share * speed
                                     / DAY_S, duration_s)):
        while held and held[0][0] <= at:
            yield heapq.heappop(held)[2]
        device = rng.choice(devices)
        kind = _pick(rng, ALARM_KINDS)
        elder = elders[device.elder_id] if device.elder_id is not None else None
        home = (elder.lat, elder.lon) if elder and elder.lat is not None and elder.lon is not None \
            else None
        counts["alarm_events"] += 1
        yield Action(
            at=at, kind="device", ref=f"{run_id}-a{n}", serial=device.serial, event_type=kind,
            location=None if home is None else jitter(home, rng, 20), elder_id=device.elder_id,
            handle_after=rng.uniform(*rates.handle_s) / speed)
        if kind == "sos" and device.kind == "sos_phone" and elder is not None and elder.phones \
                and rng.random() < rates.sos_call_share:
            call = _call(rng, snapshot, rates, speed, round(at + 2.0 / speed, 4),
                         f"{run_id}-s{n}", elder.phones[0], elder, counts, service=False)
            heapq.heappush(held, (call.at, n, call))
    while held:
        yield heapq.heappop(held)[2]


def _bracelet_streams(seed: int, elders: dict[int, Elder], devices: list[Device], rates: Rates,
                      speed: float, duration_s: float, run_id: str, counts: dict[str, int],
                      shard: tuple[int, int]) -> list[Iterator[Action]]:
    """Per simulated bracelet, a heartbeat and a location generator; one more for the rare
    low batteries. A sample (`rates.bracelets` below the snapshot's) is spread evenly over
    the bracelets; more than the snapshot's reuse them in turn."""
    bracelets = [d for d in devices if d.kind == "bracelet"] or devices
    if not bracelets:
        return []
    wanted = len(bracelets) if rates.bracelets is None else rates.bracelets
    mine = [i for i in range(wanted) if i % shard[1] == shard[0]]

    def device_of(i: int) -> Device:
        if wanted <= len(bracelets):
            return bracelets[i * len(bracelets) // wanted]
        return bracelets[i % len(bracelets)]

    out: list[Iterator[Action]] = []
    low: list[Action] = []
    lb_share = rates.low_battery_per_day * speed * duration_s / DAY_S
    for i in mine:
        device = device_of(i)
        elder = elders[device.elder_id] if device.elder_id is not None else None
        centre = device.fence[:2] if device.fence else (
            (elder.lat, elder.lon) if elder and elder.lat is not None and elder.lon is not None
            else None)
        out.append(_periodic(_rng(seed, f"heartbeat:{i}"), device, "heartbeat", i, centre,
                             rates.heartbeat_min * 60.0 / speed, duration_s, run_id, counts))
        if centre is not None:
            out.append(_periodic(_rng(seed, f"location:{i}"), device, "location", i, centre,
                                 rates.location_min * 60.0 / speed, duration_s, run_id, counts))
        rng = _rng(seed, f"low_battery:{i}")
        if rng.random() < lb_share:
            low.append(Action(at=round(rng.uniform(0, duration_s), 4), kind="device",
                              ref=f"{run_id}-lb{i}", serial=device.serial,
                              event_type="low_battery", battery=rng.randint(3, 15),
                              elder_id=device.elder_id,
                              handle_after=rng.uniform(*rates.handle_s) / speed))
    if low:
        low.sort(key=lambda a: (a.at, a.ref))
        out.append(_counted(low, counts, "low_battery"))
    return out


def _periodic(rng: random.Random, device: Device, kind: str, i: int,
              centre: tuple[float, float] | None, period_s: float, duration_s: float,
              run_id: str, counts: dict[str, int]) -> Iterator[Action]:
    key = "heartbeats" if kind == "heartbeat" else "locations"
    t = rng.uniform(0, period_s)
    while t < duration_s:
        where = None if centre is None else jitter(centre, rng, 25)
        counts[key] += 1
        yield Action(at=round(t, 4), kind="device", ref=f"{run_id}-{kind[0]}{i}-{int(t * 1000)}",
                     serial=device.serial, event_type=kind, location=where,
                     battery=rng.randint(30, 100), elder_id=device.elder_id)
        t += period_s


def _counted(actions: list[Action], counts: dict[str, int], key: str) -> Iterator[Action]:
    for a in actions:
        counts[key] += 1
        yield a


def device_events_per_day(rates: Rates) -> float:
    """Periodic events one bracelet sends in a city day (heartbeats and locations)."""
    return DAY_S / (rates.heartbeat_min * 60.0) + DAY_S / (rates.location_min * 60.0)


def bracelets_for_rate(rates: Rates, speed: float, events_per_s: float) -> int:
    """How many bracelets send `events_per_s` periodic events at compression `speed`."""
    return max(1, round(events_per_s * DAY_S / (device_events_per_day(rates) * speed)))


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


# How an active-care call goes (issue 7): most elders are well; some want a service, a few
# worry the operator, about one in eight does not answer. Methods: mostly by phone.
CARE_OUTCOMES = (("well", 80), ("needs_service", 5), ("needs_attention", 3), ("unreachable", 12))
CARE_METHODS = (("phone", 90), ("video", 6), ("chance", 4))


def care_outcome_for(seed: int, task_id: int, attempt: int, items: Sequence[str]
                     ) -> dict[str, Any]:
    """The outcome the simulated operator records for one attempt at one care task; a
    service is one of `items` (the catalogue's codes); with none, the elder is well."""
    rng = _rng(seed, f"care:{task_id}:{attempt}")
    outcome = rng.choices([o for o, _ in CARE_OUTCOMES], [w for _, w in CARE_OUTCOMES])[0]
    method = rng.choices([m for m, _ in CARE_METHODS], [w for _, w in CARE_METHODS])[0]
    body: dict[str, Any] = {"outcome": outcome, "method": method,
                            "note": "模拟关爱电话 (simulated care call)"}
    if outcome == "needs_service":
        if not items:
            body["outcome"] = "well"
        else:
            body["item_code"] = rng.choice(list(items))
    body["contact_reached"] = rng.random() < 0.6
    return body
