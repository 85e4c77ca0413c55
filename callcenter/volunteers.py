"""Volunteers and their time bank (issue 7 part 7): register, search, log help, redeem points,
and the month's figures per community. Owns volunteers, volunteer_activities, volunteer_hours
and time_bank_ledger. Query functions take the connection (or pool) explicitly."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from callcenter import auth
from callcenter import timebank_rules as rules
from callcenter.stats import Region
from callcenter.subsidy_rules import month_bounds
from callcenter.validation import mask_id

log = logging.getLogger("callcenter.volunteers")

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool


class Refused(ValueError):
    """A write that cannot be booked; `field` names the input at fault, `conflict` marks a
    refusal by the account's state (409) rather than by the input's shape (422)."""

    def __init__(self, field: str, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.conflict = conflict


_SELECT = """
SELECT v.id, v.name, v.phone, v.id_number, v.region_code, r.name AS region_name,
       r.name_en AS region_name_en, r.path AS region_path, v.activities, v.active, v.joined_on,
       v.created_at,
       coalesce((SELECT sum(l.points) FROM time_bank_ledger l WHERE l.volunteer_id = v.id), 0)
           AS balance
FROM volunteers v JOIN regions r ON r.code = v.region_code
"""


def public(row: asyncpg.Record) -> dict[str, Any]:
    """A volunteer as the API shows it: the ID number always masked (nobody's work needs it)."""
    return {"id": row["id"], "name": row["name"], "phone": row["phone"],
            "id_number": mask_id(row["id_number"]) if row["id_number"] else None,
            "region": {"code": row["region_code"], "name": row["region_name"],
                       "name_en": row["region_name_en"]},
            "activities": list(row["activities"]), "active": row["active"],
            "joined_on": row["joined_on"].isoformat(), "balance": float(row["balance"])}


async def activities(db: Db, *, only_active: bool = True) -> list[dict[str, Any]]:
    """The kinds of help with their rates, in display order."""
    rows = await db.fetch(
        "SELECT code, name_zh, name_en, points_per_hour, active FROM volunteer_activities"
        " WHERE active OR NOT $1 ORDER BY sort_order, code", only_active)
    return [{**dict(r), "points_per_hour": float(r["points_per_hour"])} for r in rows]


async def create(conn: asyncpg.Connection, clean: dict[str, Any], user_id: int | None
                 ) -> int:
    """Insert a volunteer from validated fields; returns its id."""
    vid: int = await conn.fetchval(
        "INSERT INTO volunteers (name, phone, id_number, region_code, activities, active,"
        " joined_on, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        clean["name"], clean["phone"], clean["id_number"], clean["region_code"],
        clean["activities"], clean["active"], clean["joined_on"], user_id)
    log.info("volunteer registered id=%d region=%s by=%s", vid, clean["region_code"], user_id)
    return vid


_COLUMNS = frozenset({"name", "phone", "region_code", "activities", "active"})


async def update(conn: asyncpg.Connection, volunteer_id: int, clean: dict[str, Any]) -> None:
    """Change a volunteer's validated fields (column names from the fixed set above)."""
    columns = {k: v for k, v in clean.items() if k in _COLUMNS}
    if not columns:
        return
    sets = ", ".join(f"{col} = ${i + 2}" for i, col in enumerate(columns))
    await conn.execute(f"UPDATE volunteers SET {sets} WHERE id = $1", volunteer_id,
                       *columns.values())
    log.info("volunteer changed id=%d fields=%s", volunteer_id, ",".join(sorted(columns)))


async def fetch_in_scope(db: Db, p: auth.Principal, volunteer_id: int
                         ) -> asyncpg.Record | None:
    """The volunteer if registered in the user's region, else None."""
    return await db.fetchrow(_SELECT + f" WHERE v.id = $1 AND {auth.scope_sql(2)}",
                             volunteer_id, *auth.scope_args(p))


async def search(db: Db, p: auth.Principal, *, q: str, phone: str | None,
                 region_path: str | None, active: bool | None, limit: int, after: int
                 ) -> list[asyncpg.Record]:
    """Volunteers in the user's region (and under `region_path`), by name part or phone."""
    conditions = ["v.id > $1", auth.scope_sql(2)]
    args: list[Any] = [after, *auth.scope_args(p)]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if phone is not None:
        conditions.append(f"v.phone = {arg(phone)}")
    elif q:
        conditions.append(f"strpos(v.name, {arg(q)}) > 0")
    if region_path is not None:
        conditions.append(f"(r.path = {arg(region_path)} OR r.path LIKE {arg(region_path + '.%')})")
    if active is not None:
        conditions.append(f"v.active = {arg(active)}")
    sql = _SELECT + " WHERE " + " AND ".join(conditions) + f" ORDER BY v.id LIMIT {int(limit)}"
    return await db.fetch(sql, *args)


async def history(db: Db, volunteer_id: int, limit: int = 200) -> dict[str, Any]:
    """Totals and the latest ledger rows (each earn row with its logged stretch)."""
    totals = await db.fetchrow(
        "SELECT coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0) AS earned,"
        " coalesce(-sum(points) FILTER (WHERE kind = 'redeem'), 0) AS redeemed,"
        " coalesce(sum(points), 0) AS balance FROM time_bank_ledger WHERE volunteer_id = $1",
        volunteer_id)
    minutes = await db.fetchval(
        "SELECT coalesce(sum(minutes), 0) FROM volunteer_hours WHERE volunteer_id = $1",
        volunteer_id)
    rows = await db.fetch(
        "SELECT l.id, l.kind, l.points, l.balance_after, l.reason, l.created_at,"
        " u.display_name AS created_by_name, h.id AS hours_id, h.activity_code,"
        " a.name_zh AS activity_name, a.name_en AS activity_name_en, h.started_at, h.minutes,"
        " h.note, h.elder_id, e.name AS elder_name"
        " FROM time_bank_ledger l LEFT JOIN users u ON u.id = l.created_by"
        " LEFT JOIN volunteer_hours h ON h.id = l.hours_id"
        " LEFT JOIN volunteer_activities a ON a.code = h.activity_code"
        " LEFT JOIN elders e ON e.id = h.elder_id"
        " WHERE l.volunteer_id = $1 ORDER BY l.id DESC LIMIT $2", volunteer_id, limit)
    items = [{**dict(r), "points": float(r["points"]),
              "balance_after": float(r["balance_after"])} for r in rows]
    return {"earned": float(totals["earned"]), "redeemed": float(totals["redeemed"]),
            "balance": float(totals["balance"]), "minutes": int(minutes),
            "hours": rules.hours_of(int(minutes)), "history": items}


async def _lock(conn: asyncpg.Connection, volunteer_id: int) -> asyncpg.Record:
    # Serialises the volunteer's logs and redemptions: an overlap check or a balance check sees
    # every row committed before it (the ledger's trigger takes the same lock again).
    row = await conn.fetchrow(
        "SELECT id, joined_on, active FROM volunteers WHERE id = $1 FOR NO KEY UPDATE",
        volunteer_id)
    assert row is not None, "the caller checked the volunteer exists"
    return row


async def log_hours(conn: asyncpg.Connection, volunteer_id: int, *, activity: str,
                    started_at: dt.datetime, minutes: int, elder_id: int | None, note: str,
                    user_id: int | None, now: dt.datetime, tz: dt.tzinfo) -> dict[str, Any]:
    """Book a stretch of help and its earn row. Call inside a transaction; Refused on a clash."""
    vol = await _lock(conn, volunteer_id)
    if not vol["active"]:
        raise Refused("volunteer", "该志愿者已停用 (the volunteer is inactive)", conflict=True)
    problem = rules.hours_problem(started_at, minutes, now, vol["joined_on"], tz)
    if problem is not None:
        raise Refused(*problem)
    rate = await conn.fetchval(
        "SELECT points_per_hour FROM volunteer_activities WHERE code = $1 AND active", activity)
    if rate is None:
        raise Refused("activity", "未知的服务类别 (unknown kind of activity)")
    near = await conn.fetch(
        "SELECT started_at, minutes FROM volunteer_hours WHERE volunteer_id = $1"
        " AND started_at > $2 AND started_at < $3", volunteer_id,
        started_at - dt.timedelta(minutes=rules.MAX_MINUTES),
        started_at + dt.timedelta(minutes=minutes))
    if any(rules.overlaps(started_at, minutes, r["started_at"], r["minutes"]) for r in near):
        raise Refused("started_at", "与该志愿者已登记的服务时间重叠 (overlaps help already "
                                    "logged for this volunteer)", conflict=True)
    points = rules.points_for(minutes, rate)
    hours = await conn.fetchrow(
        "INSERT INTO volunteer_hours (volunteer_id, elder_id, activity_code, started_at, minutes,"
        " note, points_per_hour, points, recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " $9) RETURNING *", volunteer_id, elder_id, activity, started_at, minutes, note, rate,
        points, user_id)
    ledger = await conn.fetchrow(
        "INSERT INTO time_bank_ledger (volunteer_id, kind, hours_id, points, balance_after,"
        " created_by) VALUES ($1, 'earn', $2, $3, 0, $4) RETURNING *",
        volunteer_id, hours["id"], points, user_id)
    log.info("volunteer hours volunteer=%d activity=%s minutes=%d points=%s by=%s",
             volunteer_id, activity, minutes, points, user_id)
    return {"hours": _plain(hours), "ledger": _plain(ledger),
            "balance": float(ledger["balance_after"])}


async def redeem(conn: asyncpg.Connection, volunteer_id: int, points: Decimal, reason: str,
                 user_id: int | None) -> dict[str, Any]:
    """Book a redemption (a negative ledger row with a reason). Call inside a transaction;
    Refused (conflict) when the balance does not cover it."""
    await _lock(conn, volunteer_id)
    have = Decimal(await conn.fetchval(
        "SELECT coalesce(sum(points), 0) FROM time_bank_ledger WHERE volunteer_id = $1",
        volunteer_id))
    if not rules.may_redeem(have, points):
        raise Refused("points", f"积分余额不足：现有{have}分 (not enough points: the balance is "
                                f"{have})", conflict=True)
    row = await conn.fetchrow(
        "INSERT INTO time_bank_ledger (volunteer_id, kind, points, balance_after, reason,"
        " created_by) VALUES ($1, 'redeem', $2, 0, $3, $4) RETURNING *",
        volunteer_id, -points, reason, user_id)
    log.info("time bank redeem volunteer=%d points=%s by=%s", volunteer_id, points, user_id)
    return {"ledger": _plain(row), "balance": float(row["balance_after"])}


def _plain(row: asyncpg.Record) -> dict[str, Any]:
    """A record with its numeric columns as floats, for JSON."""
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in dict(row).items()}


async def elder_in_district(db: Db, p: auth.Principal, elder_id: int,
                            volunteer_region_path: str) -> str | None:
    """Why the elder cannot be named on the volunteer's log (None: they can): unknown or outside
    the user's region, or living outside the volunteer's district."""
    row = await db.fetchrow(
        f"SELECT r.path FROM elders e JOIN regions r ON r.code = e.region_code"
        f" WHERE e.id = $1 AND {auth.scope_sql(2)}", elder_id, *auth.scope_args(p))
    if row is None:
        return "老人不存在或不在您的辖区内 (no such elder in your region)"
    district = ".".join(volunteer_region_path.split(".")[:2])
    if not (row["path"] == district or row["path"].startswith(district + ".")):
        return "老人不在该志愿者所在区县 (the elder lives outside the volunteer's district)"
    return None


# ---------- the month's report ----------

async def month_report(db: Db, region: Region, month: dt.date, tz: zoneinfo.ZoneInfo
                       ) -> dict[str, Any]:
    """The month's figures per community under `region` (code, name, name_en, level, path)
    that has volunteers."""
    start, end = month_bounds(month, tz)
    last_day = end.astimezone(tz).date() - dt.timedelta(days=1)
    under = (region.path, region.path + ".%")
    # the communities with a time bank (someone registered there, ever): a city has hundreds of
    # communities, most of them without volunteers
    communities = await db.fetch(
        "SELECT code, name, name_en FROM regions r WHERE r.level = 'community'"
        " AND (r.path = $1 OR r.path LIKE $2)"
        " AND EXISTS (SELECT 1 FROM volunteers v WHERE v.region_code = r.code)"
        " ORDER BY r.path", *under)
    registered = await db.fetch(
        "SELECT v.region_code, count(*) AS n FROM volunteers v"
        " JOIN regions r ON r.code = v.region_code"
        " WHERE v.active AND v.joined_on <= $3 AND (r.path = $1 OR r.path LIKE $2)"
        " GROUP BY v.region_code", *under, last_day)
    hours = await db.fetch(
        "SELECT h.volunteer_id, v.region_code, h.activity_code, h.elder_id, h.minutes, h.points"
        " FROM volunteer_hours h JOIN volunteers v ON v.id = h.volunteer_id"
        " JOIN regions r ON r.code = v.region_code"
        " WHERE h.started_at >= $3 AND h.started_at < $4 AND (r.path = $1 OR r.path LIKE $2)",
        *under, start, end)
    redeemed = await db.fetch(
        "SELECT l.volunteer_id, v.region_code, -l.points AS points FROM time_bank_ledger l"
        " JOIN volunteers v ON v.id = l.volunteer_id JOIN regions r ON r.code = v.region_code"
        " WHERE l.kind = 'redeem' AND l.created_at >= $3 AND l.created_at < $4"
        " AND (r.path = $1 OR r.path LIKE $2)", *under, start, end)
    per, total, by_activity = rules.monthly_report(
        [c["code"] for c in communities], {r["region_code"]: r["n"] for r in registered},
        [rules.HoursRow(r["volunteer_id"], r["region_code"], r["activity_code"], r["elder_id"],
                        r["minutes"], r["points"]) for r in hours],
        [rules.RedeemRow(r["volunteer_id"], r["region_code"], r["points"]) for r in redeemed])
    names = {c["code"]: (c["name"], c["name_en"]) for c in communities}
    kinds = await activities(db, only_active=False)
    return {
        "period": {"kind": "monthly", "label": month.strftime("%Y-%m"), "tz": str(tz)},
        "region": {"code": region.code, "name": region.name, "name_en": region.name_en,
                   "level": region.level},
        "communities": [{"code": code, "name": names.get(code, (code, ""))[0],
                         "name_en": names.get(code, (code, ""))[1], **f.public()}
                        for code, f in per.items()],
        "by_activity": [{"code": k["code"], "name_zh": k["name_zh"], "name_en": k["name_en"],
                         "points_per_hour": k["points_per_hour"], **by_activity[k["code"]].public()}
                        for k in kinds if k["code"] in by_activity],
        "totals": total.public(),
    }
