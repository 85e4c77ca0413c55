"""Demo volunteers for the Weihai city (issue 7 part 7): ~100 volunteers across the communities,
with the help they logged over the three months before the reference date and a few
redemptions. Deterministic for a seed; runs inside seed_city's transaction."""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import defaultdict
from decimal import Decimal

import asyncpg

from callcenter import timebank_rules as rules
from callcenter.seed_rows import CST, PhoneBook, person_name, rng_for
from callcenter.validation import make_id_number

log = logging.getLogger("callcenter.seed_volunteers")

MINUTES = (30, 45, 60, 60, 90, 120)
REDEEM_REASONS = ("兑换理发服务（本人）", "兑换家政保洁2小时（母亲）", "兑换助餐券（父亲）",
                  "兑换陪同就医服务（本人）")


def _start(rng: random.Random, day: dt.date) -> dt.datetime:
    """A morning or afternoon start on `day`, Shanghai time, on the quarter hour."""
    hour = rng.choice((8, 9, 10, 14, 15, 16))
    return dt.datetime.combine(day, dt.time(hour, rng.choice((0, 15, 30))), CST)


async def seed_volunteers(conn: asyncpg.Connection, after_elder_id: int,
                          reference_date: dt.date, seed: int, count: int = 100) -> int:
    """Write `count` volunteers (spread over the communities) and their months of help;
    returns how many volunteers were written."""
    rng = rng_for(seed, "volunteers")
    communities = await conn.fetch(
        "SELECT code, split_part(path, '.', 2) AS district FROM regions"
        " WHERE level = 'community' ORDER BY code")
    if not communities or count <= 0:
        return 0
    elders: dict[str, list[int]] = defaultdict(list)
    for r in await conn.fetch(
            "SELECT e.id, split_part(r.path, '.', 2) AS district FROM elders e"
            " JOIN regions r ON r.code = e.region_code WHERE e.id > $1 AND e.status = 'active'"
            " ORDER BY e.id", after_elder_id):
        elders[r["district"]].append(r["id"])
    operators = {r["region_code"]: r["id"] for r in await conn.fetch(
        "SELECT DISTINCT ON (region_code) region_code, id FROM users WHERE role = 'operator'"
        " ORDER BY region_code, id")}
    city_operator = next(iter(operators.values()), None)
    rates = {r["code"]: r["points_per_hour"] for r in await conn.fetch(
        "SELECT code, points_per_hour FROM volunteer_activities WHERE active ORDER BY code")}
    codes = sorted(rates)
    phones = PhoneBook(rng)
    picked = sorted(rng.sample(list(communities), min(count, len(communities))),
                    key=lambda c: c["code"])
    people = []
    for i in range(count):
        where = picked[i % len(picked)]
        male = rng.random() < 0.4
        birth = dt.date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28))
        id_no = make_id_number(where["district"], birth, rng.randrange(1000)) \
            if rng.random() < 0.6 else None
        kinds = sorted(rng.sample(codes, rng.randint(1, 3)))
        joined = reference_date - dt.timedelta(days=rng.randint(100, 1000))
        people.append((person_name(rng, male, birth.year), phones.mobile(), id_no,
                       where["code"], kinds, True, joined))
    ids = [await conn.fetchval(
        "INSERT INTO volunteers (name, phone, id_number, region_code, activities, active,"
        " joined_on) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
        *p) for p in people]
    first_day = (reference_date.replace(day=1) - dt.timedelta(days=80)).replace(day=1)
    span = (reference_date - first_day).days
    hours = []
    for vid, (_, _, _, code, kinds, _, _) in zip(ids, people, strict=True):
        if vid is None:  # a clashing ID number from an earlier seed: skip this person
            continue
        district = next(c["district"] for c in picked if c["code"] == code)
        nearby = elders.get(district, [])
        recorder = operators.get(district, city_operator)
        for offset in sorted(rng.sample(range(span), rng.randint(2, min(14, span)))):
            start = _start(rng, first_day + dt.timedelta(days=offset))
            activity = rng.choice(kinds)
            minutes = rng.choice(MINUTES)
            elder = rng.choice(nearby) if nearby and rng.random() < 0.8 else None
            hours.append((vid, elder, activity, start, minutes, "",
                          rates[activity], rules.points_for(minutes, rates[activity]),
                          recorder, start + dt.timedelta(minutes=minutes)))
    await conn.copy_records_to_table(
        "volunteer_hours", records=hours,
        columns=("volunteer_id", "elder_id", "activity_code", "started_at", "minutes", "note",
                 "points_per_hour", "points", "recorded_by", "created_at"))
    await conn.execute(
        "INSERT INTO time_bank_ledger (volunteer_id, kind, hours_id, points, balance_after,"
        " created_by, created_at) SELECT volunteer_id, 'earn', id, points, 0, recorded_by,"
        " created_at FROM volunteer_hours WHERE volunteer_id = ANY($1::bigint[])"
        " ORDER BY created_at, id", [v for v in ids if v is not None])
    balances = await conn.fetch(
        "SELECT volunteer_id, sum(points) AS balance FROM time_bank_ledger"
        " WHERE volunteer_id = ANY($1::bigint[]) GROUP BY volunteer_id ORDER BY volunteer_id",
        [v for v in ids if v is not None])
    for row in balances:
        if rng.random() < 0.2 and row["balance"] >= 2:
            spend = Decimal(rng.randint(1, int(row["balance"])))
            at = dt.datetime.combine(reference_date - dt.timedelta(days=rng.randint(0, 20)),
                                     dt.time(11), CST)
            await conn.execute(
                "INSERT INTO time_bank_ledger (volunteer_id, kind, points, balance_after, reason,"
                " created_at) VALUES ($1, 'redeem', $2, 0, $3, $4)", row["volunteer_id"],
                -spend, rng.choice(REDEEM_REASONS), at)
    written = sum(v is not None for v in ids)
    log.info("seeded volunteers=%d hours=%d", written, len(hours))
    return written
