"""The simulator's schedule is a pure function of its seed and inputs."""

from __future__ import annotations

from collections import Counter

from callcenter import sim_plan as plan

ELDERS = tuple(plan.Elder(i, (f"+86138063{i:05d}",), 37.4 + i / 1e4, 122.1, "371000.371002")
               for i in range(1, 301))
DEVICES = tuple(plan.Device(f"SOS-{i:05d}", "sos_phone", i, "s" * 32) for i in range(1, 301)) + \
    tuple(plan.Device(f"BR-{i:05d}", "bracelet", i, "s" * 32) for i in range(1, 41))
CITY = plan.Snapshot(ELDERS, DEVICES, (plan.Login("operator", "371000"),
                                       plan.Login("op.huancui", "371000.371002")),
                     (plan.Login("ps.001.01", "371000.371002", 1, (37.5, 122.1)),), ("ME001",))


def build(seed: int, **kw: object) -> plan.Plan:
    rates = plan.Rates(**kw)  # type: ignore[arg-type]
    return plan.build(seed, CITY, rates, speed=86_400 / 600, duration_s=600, run_id="t")


def test_same_seed_same_schedule() -> None:
    a, b = build(7), build(7)
    assert a.actions == b.actions and a.fingerprint() == b.fingerprint()
    assert len(a.actions) > 1000


def test_different_seed_different_schedule() -> None:
    assert build(7).fingerprint() != build(8).fingerprint()


def test_rates_roughly_as_configured() -> None:
    # one whole city day in 600 wall seconds
    p = build(3)
    calls = [a for a in p.actions if a.kind == "call"]
    alarms = [a for a in p.actions if a.kind == "device" and a.event_type in ("sos", "fall",
                                                                                "smoke", "gas")]
    sos_calls = [a for a in calls if a.ref.startswith("t-s")]
    assert 3300 < len(calls) - len(sos_calls) < 3700
    assert 140 < len(alarms) < 215  # 5 % of 3,500
    kinds = Counter(a.event_type for a in p.actions if a.kind == "device")
    assert 40 * 48 - 40 <= kinds["heartbeat"] <= 40 * 48  # every 30 minutes
    assert 40 * 96 - 40 <= kinds["location"] <= 40 * 96
    service = [a for a in calls if a.item_code]
    assert 0.15 < len(service) / len(calls) < 0.3
    abandoned = [a for a in calls if a.abandoned]
    assert 0.03 < len(abandoned) / len(calls) < 0.1
    assert all(0 <= a.at < 600 for a in p.actions)
    assert [a.at for a in p.actions] == sorted(a.at for a in p.actions)
    assert len({a.ref for a in p.actions}) == len(p.actions)
    # an operator whose region covers the elder answers
    assert {a.agent for a in calls if a.elder_id} <= {"operator", "op.huancui"}


def test_scale_and_speed() -> None:
    half = plan.build(3, CITY, plan.Rates(calls_per_day=1750, bracelets=80), speed=86_400 / 600,
                      duration_s=600)
    kinds = Counter(a.event_type for a in half.actions if a.kind == "device")
    assert kinds["heartbeat"] > 80 * 48 - 100  # --bracelets scales the device streams
    assert 1500 < half.counts["calls"] < 2100
    slow = plan.build(3, CITY, plan.Rates(), speed=1, duration_s=60)
    assert slow.counts["calls"] < 10


def test_staff_choices_shares() -> None:
    picks = Counter(plan.staff_choice(5, "ps.001.01", i, 0.1, 0.03) for i in range(20_000))
    assert 0.08 < picks["decline"] / 20_000 < 0.12
    assert 0.02 < picks["no_show"] / 20_000 < 0.04
    assert plan.staff_choice(5, "a", 1, 0.1, 0.03) == plan.staff_choice(5, "a", 1, 0.1, 0.03)


def test_stream_is_lazy_in_time_order_and_counts_as_it_goes() -> None:
    counts: dict[str, int] = {}
    actions = plan.stream(7, CITY, plan.Rates(), speed=86_400 / 600, duration_s=600,
                          run_id="t", counts=counts)
    first = [next(actions) for _ in range(10)]
    assert counts["heartbeats"] + counts["locations"] + counts["calls"] < 100  # not all built
    rest = list(actions)
    times = [a.at for a in first + rest]
    assert times == sorted(times)
    whole = build(7)
    assert counts == whole.counts and tuple(first + rest) == whole.actions
    assert plan.fingerprint(first + rest) == whole.fingerprint()


def test_shards_split_the_bracelets_and_parts_pick_streams() -> None:
    args = (7, CITY, plan.Rates(), 86_400 / 600, 600, "t")
    whole = [a for a in plan.stream(*args) if a.ref.startswith(("t-h", "t-l"))]
    shards = [list(plan.stream(*args, parts=("bracelets",), shard=(k, 3))) for k in range(3)]
    assert sorted(map(repr, whole)) == sorted(repr(a) for s in shards for a in s)
    assert all(not set(map(repr, shards[0])) & set(map(repr, s)) for s in shards[1:])
    calls = list(plan.stream(*args, parts=("calls", "alarms")))
    assert calls and all(not a.ref.startswith(("t-h", "t-l")) for a in calls)
    assert [a.at for a in calls] == sorted(a.at for a in calls)


def test_bracelet_sample_spreads_and_sizes_for_a_rate() -> None:
    sample = build(7, bracelets=10)
    serials = {a.serial for a in sample.actions if a.event_type == "heartbeat"}
    assert len(serials) == 10 and "BR-00001" in serials and "BR-00037" in serials
    rates = plan.Rates()
    assert plan.device_events_per_day(rates) == 144
    # 40,000 bracelets in real time: about 67 events/s; 260 of them at ×288: about 125/s
    assert round(40_000 * 144 / 86_400) == 67
    assert plan.bracelets_for_rate(rates, 288, 125) == 260
