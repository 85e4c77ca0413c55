"""Telephony (CTI) webhook, SPEC §4.2: call records, the screen pop, and the SOS call merge.

The telephony system posts one JSON event per call step with a bearer token. Each event is one
transaction: the call row, its `events` row and the live event (outbox) commit together.

Decisions (also in the endpoint's documentation):
- ringing is idempotent on `call_id`: a repeat answers 200 with the same call (409 if the repeat
  carries a different ani/dnis: that is a different call reusing the id).
- answered/hangup/abandoned for an unknown `call_id` answer 404 (field call_id): a call is only
  created by its ringing event, so an out-of-order event is visible to the sender, not guessed at.
- hangup of a call nobody answered records it as `abandoned` (the caller gave up), hangup of an
  answered call as `ended`. Repeating the event that closed a call answers 200 and changes
  nothing; steps that make no sense (answered after the end, abandoned after an answer, answered
  by a second agent) answer 409.
- the caller is matched by exact E.164 number against every elder's phones (GIN index), deceased
  elders left out. Several matches (a couple sharing the home landline) pop nobody: `elder` is
  null, `match` is "ambiguous" and `candidates` carries their cards for the operator to choose,
  unless exactly one of them has an open `sos` alarm in the merge window — then that is the caller.
- SOS merge: the elder's devices are locked (as device event intake does) before looking for an
  open `sos` alarm within ±2 minutes of the ring, so a call and a device event arriving together
  are serialised and always end up linked into one alarm, whichever commits first.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import alarm_rules as rules
from callcenter import keys, outbox
from callcenter.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    json_response,
)
from callcenter.http import parse_object
from callcenter.routing import Routes
from callcenter.validation import Invalid, ValidationError, mask_id, phone

routes = Routes("cti", "电话接入 (telephony webhook, SPEC §4.2)")

MAX_BODY_BYTES = 16 * 1024
EVENTS = ("ringing", "answered", "hangup", "abandoned")
MAX_FUTURE = dt.timedelta(hours=1)
MAX_CANDIDATES = 5
_USERNAME = re.compile(r"[a-z0-9_.-]{3,40}")
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")

CTI_BODY: dict[str, Any] = {
    "type": "object", "required": ["call_id", "event", "ani", "dnis", "at"],
    "additionalProperties": False,
    "properties": {
        "call_id": {"type": "string", "minLength": 1, "maxLength": 100,
                    "description": "the telephony system's id of the call"},
        "event": {"type": "string", "enum": list(EVENTS)},
        "ani": {"type": "string", "maxLength": 40,
                "description": "caller's number in any common form (0631-5201234, 138…); "
                               "withheld or unparseable numbers are an unknown caller"},
        "dnis": {"type": "string", "maxLength": 40, "description": "number dialled (12349)"},
        "agent": {"type": "string", "description": "operator's username; required for answered"},
        "at": {"type": "string", "format": "date-time",
               "description": "when it happened, RFC 3339 with an offset"},
    },
}


@dataclass(frozen=True)
class CtiEvent:
    call_id: str
    event: str
    ani: str  # E.164 when the number parses, else the digits as received
    known_number: bool  # the ani parsed as a mainland number (worth matching)
    dnis: str
    agent: str | None
    at: dt.datetime


def authenticate(configured: str, header: str, setting: str = "ANXIN_CTI_TOKEN",
                 realm: str = "cti") -> None:
    """Bearer token, compared in constant time; an unset token (`setting`) refuses everything.
    Also the SMS/IVR follow-up gateway's (ANXIN_FOLLOWUP_TOKEN)."""
    challenge = {"WWW-Authenticate": f'Bearer realm="{realm}"'}
    if not configured:
        raise Unauthorized(f"接入未配置：请设置 {setting} (not configured: set {setting})",
                           headers=challenge)
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), configured.encode()):
        raise Unauthorized("令牌缺失或无效 (missing or wrong bearer token)",
                           fields={"Authorization": "无效 (invalid)"}, headers=challenge)


def parse_event(body: bytes, now: dt.datetime, area_code: str = "0631") -> CtiEvent:
    """Validate the JSON body; every wrong field is named."""
    data, errors = parse_object(body, CTI_BODY["properties"])
    call_id = _text(data, "call_id", 100, errors)
    event = data.get("event")
    if event not in EVENTS:
        errors["event"] = f"应为以下之一 (must be one of): {', '.join(EVENTS)}"
    raw_ani = _text(data, "ani", 40, errors)
    raw_dnis = _text(data, "dnis", 40, errors)
    dnis = re.sub(r"[\s\-()]", "", raw_dnis or "")
    if raw_dnis is not None and not _NUMBER.fullmatch(dnis):
        errors["dnis"] = "应为电话号码 (must be a phone number: digits, * or #)"
    agent = data.get("agent")
    if agent is not None and (not isinstance(agent, str) or not _USERNAME.fullmatch(agent)):
        errors["agent"] = "应为坐席用户名 (must be an operator's username)"
    elif agent is None and event == "answered":
        errors["agent"] = "接听事件必填 (required for answered)"
    at = _timestamp(data.get("at"), now, errors)
    if errors:
        raise ValidationError(errors)
    assert call_id is not None and raw_ani is not None and at is not None
    try:
        ani, known = phone(raw_ani, area_code), True
    except Invalid:  # withheld ("anonymous") or foreign/odd: keep what identifies it
        ani, known = re.sub(r"[^0-9+]", "", raw_ani) or raw_ani, False
    return CtiEvent(call_id, str(event), ani, known, dnis, agent, at)


def _text(data: dict[str, Any], key: str, max_len: int, errors: dict[str, str]) -> str | None:
    value = data.get(key)
    if value is None:
        errors[key] = "必填 (required)"
        return None
    if not isinstance(value, str):
        errors[key] = "应为文本 (must be text)"
        return None
    value = value.strip()
    if not value:
        errors[key] = "必填 (required)"
        return None
    if len(value) > max_len or not value.isprintable():
        errors[key] = f"应为不超过{max_len}个可打印字符 (at most {max_len} printable characters)"
        return None
    return value


def _timestamp(value: Any, now: dt.datetime, errors: dict[str, str]) -> dt.datetime | None:
    if not isinstance(value, str):
        errors["at"] = "应为 RFC 3339 时间 (must be an RFC 3339 time)"
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        errors["at"] = "应为 RFC 3339 时间 (must be an RFC 3339 time)"
        return None
    if parsed.tzinfo is None:
        errors["at"] = "需要时区 (needs a time zone offset, e.g. +08:00 or Z)"
        return None
    if parsed > now + MAX_FUTURE:
        errors["at"] = "时间在未来 (is more than an hour in the future)"
        return None
    return parsed


# The screen pop: every elder with this number, each with everything the console shows, in one
# indexed query (GIN on phones; contacts, devices and alarms by elder id). The match is an
# InitPlan array on purpose: as a join with `ORDER BY e.id LIMIT` the planner, guessing 5,000
# matches, walks the primary key through a million elders (~180 ms) instead of asking the GIN
# index (well under a millisecond).
_POP = """
SELECT e.id, e.name, e.birth_date, e.sex, e.risk_groups, e.address, e.phones, e.id_number,
       e.region_code, r.name AS region_name, e.status, e.care_level,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('position', c.position, 'name', c.name,
          'phone', c.phone, 'relation', c.relation) ORDER BY c.position), '[]'::jsonb)
   FROM elder_contacts c WHERE c.elder_id = e.id) AS contacts,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('kind', d.kind, 'serial', d.serial)
          ORDER BY d.id), '[]'::jsonb)
   FROM devices d WHERE d.elder_id = e.id AND d.status = 'active') AS devices,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'kind', a.kind, 'state', a.state,
          'created_at', a.created_at, 'outcome', a.outcome) ORDER BY a.created_at DESC),
          '[]'::jsonb)
   FROM (SELECT id, kind, state, created_at, outcome FROM alarms WHERE elder_id = e.id
         ORDER BY created_at DESC LIMIT 5) a) AS recent_alarms
FROM elders e JOIN regions r ON r.code = e.region_code
WHERE e.id = ANY (ARRAY(SELECT id FROM elders WHERE phones @> ARRAY[$1::text]
                        AND status <> 'deceased'))
ORDER BY e.id LIMIT $2
"""

_CALL = """
SELECT c.id, c.external_id, c.ani, c.dnis, c.state, c.elder_id, c.operator_id, c.alarm_id,
       c.ringing_at, c.answered_at, c.ended_at, u.display_name AS operator_name,
       coalesce(e.region_code, (SELECT code FROM regions WHERE parent_code IS NULL
                                ORDER BY code LIMIT 1)) AS region_code
FROM calls c LEFT JOIN elders e ON e.id = c.elder_id LEFT JOIN users u ON u.id = c.operator_id
WHERE c.external_id = $1
"""


def elder_card(row: asyncpg.Record, today: dt.date) -> dict[str, Any]:
    """What the screen pop shows of the caller (the ID number masked)."""
    birth = row["birth_date"]
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    return {
        "id": row["id"], "name": row["name"], "age": age, "sex": row["sex"],
        "risk_groups": list(row["risk_groups"]), "address": row["address"],
        "phones": list(row["phones"]), "id_number": mask_id(row["id_number"]),
        "region_code": row["region_code"], "region_name": row["region_name"],
        "status": row["status"], "care_level": row["care_level"],
        "contacts": _jsonb(row["contacts"]), "devices": _jsonb(row["devices"]),
        "recent_alarms": _jsonb(row["recent_alarms"]),
    }


def _jsonb(value: Any) -> Any:
    """jsonb arrives decoded on the app's pool; a bare connection gives the text."""
    return json.loads(value) if isinstance(value, str) else value


def call_view(row: asyncpg.Record) -> dict[str, Any]:
    def iso(t: dt.datetime | None) -> str | None:
        return None if t is None else t.isoformat()

    return {"id": row["id"], "external_id": row["external_id"], "ani": row["ani"],
            "dnis": row["dnis"], "state": row["state"], "elder_id": row["elder_id"],
            "alarm_id": row["alarm_id"], "operator_id": row["operator_id"],
            "operator_name": row["operator_name"], "ringing_at": iso(row["ringing_at"]),
            "answered_at": iso(row["answered_at"]), "ended_at": iso(row["ended_at"])}


def answer(row: asyncpg.Record) -> dict[str, Any]:
    return {"call_id": row["external_id"], "id": row["id"], "state": row["state"],
            "elder_id": row["elder_id"], "alarm_id": row["alarm_id"]}


async def _record(conn: asyncpg.Connection, call_id: int, from_state: str | None,
                  to_state: str, payload: dict[str, Any], user_id: int | None = None) -> None:
    await conn.execute(
        "INSERT INTO events (entity_type, entity_id, actor_user_id, actor_kind, from_state,"
        " to_state, payload) VALUES ('call', $1, $2, 'cti', $3, $4, $5::text::jsonb)",
        call_id, user_id, from_state, to_state, json.dumps(payload, ensure_ascii=False,
                                                           default=str))


async def apply(conn: asyncpg.Connection, ev: CtiEvent, today: dt.date) -> dict[str, Any]:
    """Apply one CTI event in one transaction; returns the answer body."""
    async with conn.transaction():
        if ev.event == "ringing":
            return await _ringing(conn, ev, today)
        row = await conn.fetchrow(_CALL + " FOR UPDATE OF c", ev.call_id)
        if row is None:
            raise NotFound("没有该通话的振铃记录 (no ringing event was received for this call)",
                           fields={"call_id": "未知通话 (unknown call)"})
        if ev.event == "answered":
            return await _answered(conn, row, ev)
        return await _closed(conn, row, ev)


async def _ringing(conn: asyncpg.Connection, ev: CtiEvent, today: dt.date) -> dict[str, Any]:
    rows = await conn.fetch(_POP, ev.ani, MAX_CANDIDATES + 1) if ev.known_number else []
    chosen = rows[0] if len(rows) == 1 else None
    alarm_id = None
    if rows:
        chosen, alarm_id = await _sos_alarm(conn, rows, chosen, ev.at)
    match = "elder" if chosen is not None else "ambiguous" if rows else "unknown"
    if chosen is not None:
        region = chosen["region_code"]
    else:
        region = await conn.fetchval(
            "SELECT code FROM regions WHERE parent_code IS NULL ORDER BY code LIMIT 1")
    row = await conn.fetchrow(
        "INSERT INTO calls (external_id, direction, ani, dnis, elder_id, state, ringing_at,"
        " alarm_id) VALUES ($1, 'inbound', $2, $3, $4, 'ringing', $5, $6)"
        " ON CONFLICT (external_id) DO NOTHING RETURNING id, external_id, ani, dnis, state,"
        " elder_id, operator_id, alarm_id, ringing_at, answered_at, ended_at,"
        " NULL::text AS operator_name", ev.call_id, ev.ani, ev.dnis,
        None if chosen is None else chosen["id"], ev.at, alarm_id)
    if row is None:  # a repeat (perhaps posted twice at once): the first one made the call
        existing = await conn.fetchrow(_CALL, ev.call_id)
        assert existing is not None
        return _repeat(existing, ev)
    await _record(conn, row["id"], None, "ringing", {
        "ani": ev.ani, "dnis": ev.dnis, "at": ev.at, "match": match, "alarm_id": alarm_id})
    view = call_view(row)
    await outbox.add(conn, "call.ringing", region, {
        "call": view, "match": match,
        "elder": None if chosen is None else elder_card(chosen, today),
        "candidates": [elder_card(r, today) for r in rows[:MAX_CANDIDATES]]
        if match == "ambiguous" else []})
    return answer(row)


async def _sos_alarm(conn: asyncpg.Connection, rows: list[asyncpg.Record],
                     chosen: asyncpg.Record | None, at: dt.datetime
                     ) -> tuple[asyncpg.Record | None, int | None]:
    """An open `sos` alarm of the caller raised within the merge window (the SOS phone's device
    event came first). The devices are locked first, as device-event intake locks them, so a
    concurrent sos event either is seen here or sees this call when it links calls."""
    ids = [r["id"] for r in rows]
    await conn.execute("SELECT 1 FROM devices WHERE elder_id = ANY($1::bigint[]) ORDER BY id"
                       " FOR UPDATE", ids)
    found = await conn.fetch(
        "SELECT DISTINCT ON (elder_id) elder_id, id FROM alarms WHERE elder_id = ANY($1::bigint[])"
        " AND kind = 'sos' AND state <> ALL($2::text[]) AND created_at BETWEEN $3 AND $4"
        " ORDER BY elder_id, id DESC", ids, ["resolved", "closed"],
        at - rules.SOS_MERGE_WINDOW, at + rules.SOS_MERGE_WINDOW)
    if chosen is None and len(found) == 1:  # a shared number: the one who pressed SOS
        chosen = next(r for r in rows if r["id"] == found[0]["elder_id"])
    if chosen is None:
        return None, None
    alarm = next((f["id"] for f in found if f["elder_id"] == chosen["id"]), None)
    return chosen, alarm


def _repeat(row: asyncpg.Record, ev: CtiEvent) -> dict[str, Any]:
    if row["ani"] != ev.ani or row["dnis"] != ev.dnis:
        raise Conflict("该 call_id 已用于另一通电话 (this call_id was already used for a call "
                       "with another ani/dnis)", fields={"call_id": "已存在 (already used)"})
    return answer(row)


async def _answered(conn: asyncpg.Connection, row: asyncpg.Record, ev: CtiEvent
                    ) -> dict[str, Any]:
    operator = await conn.fetchrow(
        "SELECT id, display_name FROM users WHERE username = $1 AND role = 'operator' AND active",
        ev.agent)
    if operator is None:
        raise Unprocessable(fields={"agent": "没有该坐席 (no active operator with this username)"})
    state = row["state"]
    if state == "answered" and row["operator_id"] == operator["id"]:
        return answer(row)  # the same event again
    if state != "ringing":
        who = f"，已由{row['operator_name']}接听 (already answered by {row['operator_name']})" \
            if state == "answered" else f" (the call is {state})"
        raise Conflict(f"该通话不能再接听{who}", fields={"event": "与通话状态不符 (not allowed now)"})
    _not_before(ev.at, row["ringing_at"])
    await conn.execute("UPDATE calls SET state = 'answered', operator_id = $2, answered_at = $3"
                       " WHERE id = $1", row["id"], operator["id"], ev.at)
    await _record(conn, row["id"], state, "answered", {"agent": ev.agent, "at": ev.at},
                  operator["id"])
    return await _announce(conn, "call.answered", ev.call_id)


async def _closed(conn: asyncpg.Connection, row: asyncpg.Record, ev: CtiEvent) -> dict[str, Any]:
    state = row["state"]
    allowed: dict[str, str] = {"ringing": "abandoned"}
    done: tuple[str, ...] = ("abandoned",)
    if ev.event == "hangup":
        allowed, done = {**allowed, "answered": "ended"}, ("ended", "abandoned")
    if state in done:
        return answer(row)  # closed already: a repeat changes nothing
    if state not in allowed:
        raise Conflict(f"通话状态为{state}，不能{ev.event} (not allowed: the call is {state})",
                       fields={"event": "与通话状态不符 (not allowed now)"})
    _not_before(ev.at, row["answered_at"] or row["ringing_at"])
    new_state = allowed[state]
    await conn.execute("UPDATE calls SET state = $2, ended_at = $3 WHERE id = $1",
                       row["id"], new_state, ev.at)
    await _record(conn, row["id"], state, new_state, {"event": ev.event, "at": ev.at})
    return await _announce(conn, "call.ended", ev.call_id)


def _not_before(at: dt.datetime, earlier: dt.datetime) -> None:
    if at < earlier:
        raise Unprocessable(fields={"at": f"早于通话的上一步 (is before the call's previous step, "
                                          f"{earlier.isoformat()})"})


async def _announce(conn: asyncpg.Connection, kind: str, external_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(_CALL, external_id)
    assert row is not None
    await outbox.add(conn, kind, row["region_code"], {"call": call_view(row)})
    return answer(row)


@routes.post("/api/v1/cti/events", name="cti_event", roles=None, body=CTI_BODY,
             summary="电话事件：振铃弹屏、接听、挂机 (a telephony event with `Authorization: "
                     "Bearer <ANXIN_CTI_TOKEN>`: ringing creates the call and pops the caller's "
                     "elder record, or an unknown or ambiguous caller, and links an SOS alarm of "
                     "the last 2 minutes; answered binds the operator `agent`; hangup/abandoned "
                     "close it. Ringing is idempotent on call_id; other events for an unknown "
                     "call_id answer 404; impossible steps 409)")
async def cti_event(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    authenticate(settings.cti_token, request.headers.get("Authorization", ""))
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise PayloadTooLarge(fields={"body": "超过16 KiB (larger than 16 KiB)"})
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(fields={"body": "超过16 KiB (larger than 16 KiB)"})
    now = dt.datetime.now(dt.UTC)
    event = parse_event(body, now, settings.default_area_code)
    async with request.app[keys.DB].acquire() as conn:
        out = await apply(conn, event, now.astimezone(settings.tz).date())
    return json_response(out)
