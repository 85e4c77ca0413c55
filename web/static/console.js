// The operator console (alarms part): the live queue from /ws/console, acknowledge / handle /
// resolve / close through the alarm API, the screen pop for ringing calls, duty toggles and the
// day's answer figures. Plain ES module, no framework; config comes from a JSON data block.

import { initOrders, openDetail, openNewOrder, orderEvent, ordersSnapshot, popOrderButton } from "./orders.js";
import { focusSearch, initProfile, openProfile } from "./profile.js";
import { alertSound } from "./sound.js";
import { errorText as errorTextOf, h, liveChannel, makeApi, parseTime, phone, serverClock } from "./common.js";

const root = document.getElementById("console");
const cfg = JSON.parse(document.getElementById("console-config").textContent);
const S = cfg.strings;
const me = cfg.user;
const csrf = root.dataset.csrf;
const locale = cfg.lang === "en" ? "en-GB" : "zh-CN";

const RANK = { received: 0, queued: 1, offered: 1, acknowledged: 2, in_progress: 3, resolved: 4, closed: 5 };
const WAITING = new Set(["received", "queued", "offered"]);
const HANDLING = new Set(["acknowledged", "in_progress"]);
const REMINDER_MS = 10_000;
const METRICS_MS = 30_000;
const PING_MS = 25_000;
const POP_LINGER_MS = 5_000;

const state = {
  alarms: new Map(),      // id -> card
  els: new Map(),         // id -> <article>
  msgs: new Map(),        // id -> message shown on the card (e.g. who has it)
  alerted: new Set(),     // ids already flashed and sounded
  gone: new Map(),        // id -> rank it left the queue at (late events must not bring it back)
  pops: new Map(),        // call key -> {el, timer}
  operators: new Map(),   // user id -> {display_name, available}
  presence: { ...cfg.presence },
  current: null,          // alarm id of the open dialog
  detail: null,           // GET /api/v1/alarms/{id} of the open dialog
};

const t = (key) => (key in S ? S[key] : key);

// ---------- small helpers ----------

const timeFmt = new Intl.DateTimeFormat(locale, {
  timeZone: cfg.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const dateTimeFmt = new Intl.DateTimeFormat(locale, {
  timeZone: cfg.tz, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  hourCycle: "h23" });

function clock(value) { const d = parseTime(value); return d ? timeFmt.format(d) : "—"; }
function dateTime(value) { const d = parseTime(value); return d ? dateTimeFmt.format(d) : "—"; }

function elapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${pad(mm)}:${pad(ss)}`;
}

function riskLabel(g) { return (cfg.risk_groups_en && cfg.risk_groups_en[g]) || g; }
function kindLabel(kind) { return t(`ak_${kind}`); }
function stateLabel(s) { return t(`as_${s}`); }
function deviceLabel(d) { return d ? `${t(`kind_${d.kind}`)} ${d.serial}` : "—"; }
function ageSex(e) {
  const bits = [];
  if (e.age !== null && e.age !== undefined) bits.push(`${e.age}${cfg.lang === "en" ? " " : ""}${t("years")}`);
  if (e.sex) bits.push(t(e.sex));
  return bits.join(" · ");
}

const api = makeApi(csrf, t("con_failed"));
const errorText = (r) => errorTextOf(r, t("con_failed"));

// ---------- sound ----------

// a siren-like square wave: an alarm, not a notification
const { beep } = alertSound({ hint: document.getElementById("sound-hint"), root,
                              notes: [880, 660, 880], wave: "square", step: 0.22, peak: 0.25 });

function soundWanted() {
  // an operator off duty takes no alarms; supervisors and admins are alerted at the city step
  return !cfg.has_presence || state.presence.on_duty;
}

// ---------- who an alarm is for ----------

function reachesMe(a) {
  if (!WAITING.has(a.state)) return false;
  if (a.offered_to === me.id) return true;
  if (a.escalation_level >= 2) return true;  // the whole city and supervisors
  // level 1: every operator of the region; city-wide operators join at level 2
  return a.escalation_level === 1 && me.role === "operator" && me.region_level !== "city";
}

// ---------- the queue ----------

const queueEl = document.getElementById("queue");
const emptyEl = document.getElementById("queue-empty");
const countsEl = document.getElementById("queue-counts");

function keep(a) {
  if (a.state === "closed") return false;
  // a resolved alarm stays (to be closed) only on the console of the operator who has it
  if (a.state === "resolved") return a.acknowledged_by === me.id;
  return true;
}

function upsert(card, { fromEvent = false } = {}) {
  if (!card || card.id === undefined) return;
  const old = state.alarms.get(card.id);
  if (state.gone.has(card.id) && RANK[card.state] <= state.gone.get(card.id)) return;
  if (old && RANK[card.state] < RANK[old.state]) return;  // a stale event: never go back
  if (old && RANK[card.state] === RANK[old.state] && card.escalation_level < old.escalation_level) return;
  if (!keep(card)) { remove(card.id, RANK[card.state]); return; }
  state.alarms.set(card.id, card);
  renderCard(card);
  if (reachesMe(card) && !state.alerted.has(card.id)) announce(card);
  if (!WAITING.has(card.state)) state.alerted.delete(card.id);
  if (fromEvent || !old) order();
  summary();
  refreshDialogs(card);
}

function remove(id, rank) {
  if (rank !== undefined) state.gone.set(id, Math.max(rank, state.gone.get(id) ?? -1));
  state.alarms.delete(id);
  state.alerted.delete(id);
  state.msgs.delete(id);
  const el = state.els.get(id);
  if (el) el.remove();
  state.els.delete(id);
  summary();
  if (state.current === id) {
    // the alarm was closed (here or elsewhere): its dialogs have nothing left to do
    for (const d of [handleDlg, resolveDlg]) if (d.open) d.close();
  }
}

function announce(card) {
  state.alerted.add(card.id);
  const el = state.els.get(card.id);
  if (el) {
    el.classList.remove("flash");
    void el.offsetWidth;  // restart the animation
    el.classList.add("flash");
  }
  if (soundWanted() && card.priority < 5) beep();  // a low battery is a notice, not a siren
}

function order() {
  const sorted = [...state.alarms.values()].sort((a, b) =>
    (a.priority - b.priority) || (parseTime(a.created_at) - parseTime(b.created_at)) || (a.id - b.id));
  sorted.forEach((a, i) => {
    const el = state.els.get(a.id);
    if (el && queueEl.children[i] !== el) queueEl.insertBefore(el, queueEl.children[i] || null);
  });
  summary();
}

function summary() {
  let waiting = 0, handling = 0;
  for (const a of state.alarms.values()) {
    if (WAITING.has(a.state)) waiting += 1;
    else if (HANDLING.has(a.state)) handling += 1;
  }
  countsEl.textContent = `${t("con_waiting")} ${waiting} · ${t("con_handling")} ${handling}`;
  emptyEl.hidden = state.alarms.size > 0;
}

function renderCard(a) {
  let el = state.els.get(a.id);
  if (!el) {
    el = h("article", { "data-id": a.id });
    state.els.set(a.id, el);
    queueEl.append(el);
  }
  const mine = reachesMe(a);
  const flashing = el.classList.contains("flash") && WAITING.has(a.state);
  el.className = ["alarm", `p${a.priority}`, `state-${a.state}`, mine ? "mine" : "",
    WAITING.has(a.state) && !mine ? "others" : "", HANDLING.has(a.state) ? "taken" : "",
    a.state === "resolved" ? "resolved" : "", flashing ? "flash" : ""].filter(Boolean).join(" ");
  el.dataset.state = a.state;
  el.setAttribute("aria-label", `${kindLabel(a.kind)} ${a.elder ? a.elder.name : ""}`);

  const e = a.elder;
  const head = h("div", { class: "alarm-head" },
    h("span", { class: "kind-badge" }, kindLabel(a.kind)),
    h("span", { class: "prio", title: t("con_priority") }, `P${a.priority}`),
    h("h3", { class: "elder-name" }, e ? e.name : t("con_unknown_elder"),
      e ? h("span", { class: "muted" }, ageSex(e)) : null),
    ...(e && e.risk_groups ? e.risk_groups.map((g) => h("span", { class: "tag" }, riskLabel(g))) : []),
    mine ? h("span", { class: "mine-badge" }, t("con_mine")) : null,
    h("span", { class: "age", "data-created": a.created_at, title: dateTime(a.created_at) }, ageText(a)));

  const meta = h("div", { class: "alarm-meta" },
    h("span", {}, h("span", { class: "k" }, t("address")), (e && e.address) || "—"),
    h("span", {}, h("span", { class: "k" }, t("devices")), deviceLabel(a.device)),
    h("span", {}, h("span", { class: "k" }, t("region")), a.region_name || a.region_code),
    e && e.phones && e.phones.length
      ? h("span", {}, h("span", { class: "k" }, t("phones")), e.phones.map(phone).join(" / ")) : null);

  const who = [];
  if (a.acknowledged_by_name) who.push(`${t("con_acked_by")}: ${a.acknowledged_by_name}`);
  else if (a.offered_to_name) who.push(`${t("con_offered_to")}: ${a.offered_to_name}`);
  const foot = h("div", { class: "alarm-foot" },
    h("span", { class: "state-badge" }, stateLabel(a.state)),
    WAITING.has(a.state)
      ? h("span", { class: `scope-badge esc-${a.escalation_level}` },
          `${t("con_scope")}: ${t(`esc_${a.escalation_level}`)}`) : null,
    who.length ? h("span", { class: "who" }, who.join(" · ")) : null,
    h("span", { class: "alarm-actions" }, ...actionsFor(a)));

  const msg = state.msgs.get(a.id);
  el.replaceChildren(...[head, meta, foot,
    msg ? h("p", { class: "alarm-msg error", role: "alert" }, msg) : null].filter(Boolean));
}

function actionsFor(a) {
  if (!cfg.can_handle) return [];
  if (WAITING.has(a.state)) {
    return [h("button", { type: "button", class: "primary", "data-do": "acknowledge" }, t("con_acknowledge"))];
  }
  if (a.acknowledged_by !== me.id) return [];
  if (HANDLING.has(a.state)) {
    return [h("button", { type: "button", class: "primary", "data-do": "handle" }, t("con_handle")),
      h("button", { type: "button", "data-do": "resolve" }, t("con_resolve"))];
  }
  if (a.state === "resolved") {
    return [h("button", { type: "button", class: "primary", "data-do": "close" }, t("con_close"))];
  }
  return [];
}

function ageText(a) {
  const created = parseTime(a.created_at);
  return created ? elapsed(serverClock.now() - created.getTime()) : "—";
}

function tick() {
  for (const [id, el] of state.els) {
    const a = state.alarms.get(id);
    const ageEl = el.querySelector(".age");
    if (!a || !ageEl) continue;
    ageEl.textContent = ageText(a);
    const created = parseTime(a.created_at);
    const late = created && WAITING.has(a.state) && serverClock.now() - created > 60_000;
    ageEl.classList.toggle("late", Boolean(late));
  }
}

queueEl.addEventListener("click", async (ev) => {
  const btn = ev.target.closest("button[data-do]");
  if (!btn) return;
  const id = Number(btn.closest("article").dataset.id);
  const what = btn.dataset.do;
  if (what === "acknowledge") await acknowledge(id, btn);
  else if (what === "handle") openHandle(id);
  else if (what === "resolve") openResolve(id);
  else if (what === "close") await closeAlarm(id, btn);
});

async function acknowledge(id, btn) {
  btn.disabled = true;
  const r = await api("POST", `/api/v1/alarms/${id}/acknowledge`);
  if (r.ok) {
    state.msgs.delete(id);
    upsert(r.body);
    refreshMetrics();
    return;
  }
  state.msgs.set(id, r.status === 409 ? (r.body.message || errorText(r)) : errorText(r));
  const a = state.alarms.get(id);
  if (a) renderCard(a);
  btn.disabled = false;
}

async function closeAlarm(id, btn) {
  if (btn) btn.disabled = true;
  const r = await api("POST", `/api/v1/alarms/${id}/close`);
  if (r.ok) { upsert(r.body); return true; }
  state.msgs.set(id, errorText(r));
  const a = state.alarms.get(id);
  if (a) renderCard(a);
  if (btn) btn.disabled = false;
  return false;
}

// ---------- handling and resolve dialogs ----------

const handleDlg = document.getElementById("handle-dialog");
const resolveDlg = document.getElementById("resolve-dialog");
const resolveForm = document.getElementById("resolve-form");
const resolvedStep = resolveDlg.querySelector(".resolved-step");

for (const dlg of [handleDlg, resolveDlg]) {
  dlg.addEventListener("click", (ev) => {
    if (ev.target.closest("[data-dismiss]")) dlg.close();
  });
}
handleDlg.addEventListener("close", () => { if (!resolveDlg.open) state.current = null; });
resolveDlg.addEventListener("close", () => { if (!handleDlg.open) state.current = null; });

function summaryText(a) {
  return `· ${kindLabel(a.kind)} · ${a.elder ? a.elder.name : t("con_unknown_elder")} · ${stateLabel(a.state)}`;
}

function setMsg(dlg, text, ok) {
  for (const p of dlg.querySelectorAll(".dlg-msg")) {
    p.textContent = text || "";
    p.className = `dlg-msg ${text ? (ok ? "ok" : "error") : ""}`;
  }
}

async function openHandle(id) {
  const a = state.alarms.get(id);
  if (!a) return;
  state.current = id;
  state.detail = null;
  handleDlg.querySelector(".d-summary").textContent = summaryText(a);
  handleDlg.querySelector(".d-history").replaceChildren(h("li", { class: "muted" }, t("con_loading")));
  setMsg(handleDlg, "");
  for (const f of handleDlg.querySelectorAll("form.act")) f.reset();
  renderFacts(a);
  if (!handleDlg.open) handleDlg.showModal();
  await loadDetail(id);
}

async function loadDetail(id) {
  const r = await api("GET", `/api/v1/alarms/${id}`);
  if (state.current !== id) return;
  if (!r.ok) { setMsg(handleDlg, errorText(r)); return; }
  state.detail = r.body;
  renderFacts(r.body);
  renderContacts(r.body.contacts || []);
  renderHistory(r.body.events || []);
}

function renderFacts(a) {
  const e = a.elder;
  const rows = [];
  const add = (k, v) => rows.push(h("dt", {}, k), h("dd", {}, v || "—"));
  if (e) {
    add(t("risk_groups"), (e.risk_groups || []).map(riskLabel).join(cfg.lang === "en" ? ", " : "、"));
    add(t("phones"), (e.phones || []).map(phone).join(" / "));
    add(t("address"), e.address);
    add(t("con_id_masked"), e.id_number);
  }
  add(t("devices"), deviceLabel(a.device));
  add(t("region"), a.region_name);
  add(t("con_acked_by"), a.acknowledged_by_name);
  handleDlg.querySelector(".d-facts").replaceChildren(...rows);
  handleDlg.querySelector(".d-phones").textContent = e ? (e.phones || []).map(phone).join(" / ") : "";
}

function renderContacts(contacts) {
  const list = handleDlg.querySelector(".d-contacts");
  const select = handleDlg.querySelector(".d-contact-select");
  if (!contacts.length) {
    list.replaceChildren(h("li", { class: "muted" }, t("con_no_contacts")));
    select.replaceChildren(h("option", { value: "" }, t("con_no_contacts")));
    select.disabled = true;
    select.form.querySelector("button[type=submit]").disabled = true;
    return;
  }
  list.replaceChildren(...contacts.map((c) => h("li", {}, `${c.name} `,
    h("span", { class: "muted" }, c.relation || ""), ` ${phone(c.phone)}`)));
  select.replaceChildren(...contacts.map((c) => h("option", { value: String(c.position) },
    `${c.position}. ${c.name}${c.relation ? `（${c.relation}）` : ""} ${phone(c.phone)}`)));
  select.disabled = false;
  select.form.querySelector("button[type=submit]").disabled = false;
}

function payloadOf(ev) {
  let p = ev.payload;
  if (typeof p === "string") { try { p = JSON.parse(p); } catch { p = {}; } }
  return p && typeof p === "object" ? p : {};
}

function eventText(ev) {
  const p = payloadOf(ev);
  const parts = [];
  parts.push(ev.from_state ? `${stateLabel(ev.from_state)} → ${stateLabel(ev.to_state)}` : stateLabel(ev.to_state));
  if (p.action) {
    let what = t(`act_${p.action}`);
    if (p.action === "call_contact" && p.contact_position !== undefined) {
      const c = ((state.detail && state.detail.contacts) || []).find((x) => x.position === p.contact_position);
      what += ` #${p.contact_position}${c ? ` ${c.name}` : ""}`;
    }
    if (p.service) what += ` ${t(`svc_${p.service}`)}`;
    if (p.result) what += ` · ${t(`res_${p.result}`)}`;
    if (p.order_id) what += ` · ${t("con_order")} #${p.order_id}`;
    parts.push(what);
  }
  if (p.outcome) parts.push(t(`out_${p.outcome}`));
  if (p.escalated_to_level !== undefined) parts.push(`${t("con_scope")}: ${t(`esc_${p.escalated_to_level}`)}`);
  if (p.level !== undefined && p.escalated_to_level === undefined && ev.to_state === "offered") {
    parts.push(`${t("con_scope")}: ${t(`esc_${p.level}`)}`);
  }
  if (p.kind) parts.push(kindLabel(p.kind));
  if (p.note) parts.push(`“${p.note}”`);
  return parts.join(" · ");
}

function renderHistory(events) {
  const items = events.map((ev) => h("li", {},
    h("time", { datetime: ev.at, title: dateTime(ev.at) }, clock(ev.at)),
    eventText(ev),
    h("span", { class: "actor" }, ev.actor || (ev.actor_kind === "device" ? t("devices") : t("con_system")))));
  handleDlg.querySelector(".d-history").replaceChildren(
    ...(items.length ? items : [h("li", { class: "muted" }, t("con_none"))]));
}

handleDlg.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const id = state.current;
  if (!id || !form.dataset.action) return;
  const body = { action: form.dataset.action };
  const data = new FormData(form);
  const note = (data.get("note") || "").trim();
  if (note) body.note = note;
  if (data.get("result")) body.result = data.get("result");
  if (form.dataset.action === "call_contact") body.contact_position = Number(data.get("contact_position"));
  if (form.dataset.action === "emergency_call") body.service = ev.submitter ? ev.submitter.value : "120";
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  const r = await api("POST", `/api/v1/alarms/${id}/actions`, body);
  buttons.forEach((b) => { b.disabled = false; });
  if (!r.ok) { setMsg(handleDlg, errorText(r)); return; }
  let text = `${t("con_saved")}: ${t(`act_${body.action}`)}`;
  if (r.body.order_id) text += ` · ${t("con_order")} #${r.body.order_id}`;
  setMsg(handleDlg, text, true);
  form.reset();
  upsert(r.body);
  await loadDetail(id);
});

handleDlg.querySelector(".d-open-resolve").addEventListener("click", () => {
  if (state.current) openResolve(state.current);
});

function openResolve(id) {
  const a = state.alarms.get(id);
  if (!a) return;
  state.current = id;
  resolveDlg.querySelector(".d-summary").textContent = summaryText(a);
  resolveForm.reset();
  resolveForm.hidden = a.state === "resolved";
  resolvedStep.hidden = a.state !== "resolved";
  setMsg(resolveDlg, "");
  if (handleDlg.open) handleDlg.close();
  state.current = id;
  if (!resolveDlg.open) resolveDlg.showModal();
}

resolveForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const id = state.current;
  if (!id) return;
  const data = new FormData(resolveForm);
  const body = { outcome: data.get("outcome"), note: (data.get("note") || "").trim() };
  if (body.outcome === "other" && !body.note) {
    setMsg(resolveDlg, t("con_outcome_hint"));
    resolveForm.elements.note.focus();
    return;
  }
  const submit = resolveForm.querySelector("button[type=submit]");
  submit.disabled = true;
  const r = await api("POST", `/api/v1/alarms/${id}/resolve`, body);
  submit.disabled = false;
  if (!r.ok) { setMsg(resolveDlg, errorText(r)); return; }
  resolveForm.hidden = true;
  resolvedStep.hidden = false;
  resolveDlg.querySelector(".resolved-text").textContent =
    `${t("con_resolved_ok")} · ${t(`out_${body.outcome}`)}`;
  setMsg(resolveDlg, "");
  upsert(r.body);
  resolveDlg.querySelector(".d-close-alarm").focus();
});

resolveDlg.querySelector(".d-close-alarm").addEventListener("click", async (ev) => {
  const id = state.current;
  if (!id) return;
  const btn = ev.currentTarget;
  btn.disabled = true;
  const r = await api("POST", `/api/v1/alarms/${id}/close`);
  btn.disabled = false;
  if (!r.ok) { setMsg(resolveDlg, errorText(r)); return; }
  resolveDlg.close();
  upsert(r.body);
});

function refreshDialogs(card) {
  if (state.current !== card.id) return;
  const text = summaryText(card);
  for (const d of [handleDlg, resolveDlg]) d.querySelector(".d-summary").textContent = text;
}

// ---------- screen pop ----------

const popBox = document.getElementById("screen-pop");
const popList = popBox.querySelector(".pop-list");
const popEmpty = popBox.querySelector(".pop-empty");

function callKey(call) {
  return String(call.call_id ?? call.external_id ?? call.id ?? "");
}

function popCall(type, data) {
  const call = (data && data.call) || {};
  const key = callKey(call);
  if (!key) return;
  const stage = type.split(".")[1];  // ringing | answered | ended
  let entry = state.pops.get(key);
  if (!entry) {
    if (stage === "ended") return;
    entry = { el: h("article", { class: "pop", "data-call": key }), timer: null, elder: null };
    state.pops.set(key, entry);
    popList.prepend(entry.el);
  }
  if (data && "elder" in data && (data.elder || stage === "ringing")) entry.elder = data.elder;
  clearTimeout(entry.timer);
  renderPop(entry, call, stage);
  if (stage === "ended") {
    entry.timer = setTimeout(() => {
      entry.el.remove();
      state.pops.delete(key);
      popEmpty.hidden = state.pops.size > 0;
    }, POP_LINGER_MS);
  }
  popEmpty.hidden = state.pops.size > 0;
}

function renderPop(entry, call, stage) {
  const e = entry.elder;
  const label = t(`call_${stage}`);
  const operator = call.operator_name || call.agent || call.operator || null;
  const top = h("div", { class: "pop-top" },
    h("span", { class: "pop-state" }, label),
    h("span", { class: "pop-ani" }, phone(call.ani) || "—"),
    h("span", { class: "muted" }, clock(call.ringing_at || call.at)),
    stage === "answered" && operator ? h("span", { class: "muted" }, `${t("con_answered_by")}: ${operator}`) : null);
  entry.el.className = `pop ${stage}`;
  if (!e) {
    entry.el.replaceChildren(top, h("h3", { class: "unknown" }, t("con_unknown_caller")));
    return;
  }
  const facts = h("dl", { class: "facts" });
  const add = (k, v) => { if (v) facts.append(h("dt", {}, k), h("dd", {}, v)); };
  add(t("address"), e.address);
  add(t("phones"), (e.phones || []).map(phone).join(" / "));
  add(t("region"), e.region_name);
  add(t("con_id_masked"), e.id_number);
  const contacts = (e.contacts || []).map((c) => h("li", {}, `${c.name} `,
    h("span", { class: "muted" }, c.relation || ""), ` ${phone(c.phone)}`));
  const devices = (e.devices || []).map((d) => h("li", {}, deviceLabel(d)));
  const recent = (e.recent_alarms || e.alarms || []).slice(0, 5).map((a) => h("li", {},
    `${dateTime(a.created_at)} ${kindLabel(a.kind)} · ${a.outcome ? t(`out_${a.outcome}`) : stateLabel(a.state)}`));
  entry.el.replaceChildren(top,
    h("h3", {}, e.name, h("span", { class: "muted" }, ` ${ageSex(e)}`)),
    h("div", { class: "pop-actions" }, popOrderButton(e, call),
      h("button", { type: "button", class: "pop-profile", onclick: () => openProfile(e) }, t("prof_open"))),
    h("div", {}, ...(e.risk_groups || []).map((g) => h("span", { class: "tag" }, riskLabel(g)))),
    facts,
    h("h4", {}, t("contacts")), contacts.length ? h("ol", {}, contacts) : h("p", { class: "muted" }, t("con_none")),
    h("h4", {}, t("devices")), devices.length ? h("ul", {}, devices) : h("p", { class: "muted" }, t("con_none")),
    h("h4", {}, t("con_recent_alarms")), recent.length ? h("ul", {}, recent) : h("p", { class: "muted" }, t("con_none")));
}

// ---------- operators on duty ----------

const opsEl = document.getElementById("operators");

function renderOperators() {
  const items = [...state.operators.entries()]
    .sort((a, b) => a[1].display_name.localeCompare(b[1].display_name, locale))
    .map(([, o]) => h("li", {}, h("span", {}, o.display_name),
      h("span", { class: o.available ? "avail" : "busy" }, o.available ? t("con_available") : t("con_busy"))));
  opsEl.replaceChildren(...(items.length ? items : [h("li", { class: "muted" }, t("con_none"))]));
}

function presenceEvent(d) {
  if (!d || d.user_id === undefined) return;
  if (d.on_duty) state.operators.set(d.user_id, { display_name: d.display_name, available: d.available });
  else state.operators.delete(d.user_id);
  renderOperators();
  if (d.user_id === me.id) showPresence({ on_duty: d.on_duty, available: d.available });
}

// ---------- duty toggles ----------

const stripMsg = document.getElementById("strip-msg");

function showPresence(p) {
  state.presence = { on_duty: Boolean(p.on_duty), available: Boolean(p.available) };
  if (!cfg.has_presence) return;
  const set = (id, on) => document.getElementById(id).setAttribute("aria-pressed", on ? "true" : "false");
  set("duty-on", state.presence.on_duty);
  set("duty-off", !state.presence.on_duty);
  set("avail-on", state.presence.available);
  set("avail-off", !state.presence.available);
  document.getElementById("avail-on").disabled = !state.presence.on_duty;
  document.getElementById("avail-off").disabled = !state.presence.on_duty;
}

async function setPresence(body) {
  const r = await api("POST", "/api/v1/presence", body);
  if (!r.ok) { stripMsg.textContent = errorText(r); stripMsg.hidden = false; return; }
  stripMsg.hidden = true;
  showPresence(r.body);
}

if (cfg.has_presence) {
  document.getElementById("duty-on").addEventListener("click", () => setPresence({ on_duty: true, available: true }));
  document.getElementById("duty-off").addEventListener("click", () => setPresence({ on_duty: false }));
  document.getElementById("avail-on").addEventListener("click", () => setPresence({ available: true }));
  document.getElementById("avail-off").addEventListener("click", () => setPresence({ available: false }));
}

// ---------- answer figures ----------

const figures = document.getElementById("figures");

async function refreshMetrics() {
  const r = await api("GET", "/api/v1/metrics/answers");
  if (!r.ok) return;
  const m = r.body;
  const show = (key, text, cls) => {
    const dd = figures.querySelector(`[data-fig="${key}"] dd`);
    dd.textContent = text;
    dd.className = cls || "";
  };
  const pct = (v) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(1)}%`);
  const sec = (v) => (v === null || v === undefined ? "—" : `${v}${cfg.lang === "en" ? " " : ""}${t("con_seconds")}`);
  const grade = (v, target) => (v === null || v === undefined ? "" : v >= target ? "good" : "bad");
  const targets = m.targets || { pct_60s: 97.5, pct_180s: 99 };
  show("pct_60s", pct(m.pct_60s), grade(m.pct_60s, targets.pct_60s));
  show("pct_180s", pct(m.pct_180s), grade(m.pct_180s, targets.pct_180s));
  show("median_s", sec(m.median_s));
  show("p95_s", sec(m.p95_s));
  show("alarms", String(m.alarms ?? "—"));
  show("unacknowledged", String(m.unacknowledged ?? "—"), m.unacknowledged ? "bad" : "");
}

let metricsTimer = null;

function metricsSoon() {
  // the figures follow the queue, at most once a second however many alarms arrive
  if (metricsTimer === null) metricsTimer = setTimeout(() => { metricsTimer = null; refreshMetrics(); }, 1000);
}

// ---------- the live channel ----------

const connEl = document.getElementById("conn");

const bannerEl = document.getElementById("conn-banner");

function setConn(status) {
  connEl.className = `conn ${status}`;
  connEl.textContent = t(`con_${status}`);
  bannerEl.hidden = status !== "reconnecting";
}

// Other panels of the page (the map, the elder profile) follow the same channel: each applied
// message is re-dispatched on window as the CustomEvent "anxin-live" (detail: the message).
function share(msg) {
  window.dispatchEvent(new CustomEvent("anxin-live", { detail: msg }));
}

function handle(msg) {  // each message once, in order (liveChannel drops replayed duplicates)
  if (msg.type === "snapshot") {
    applySnapshot(msg.data || {});
    share(msg);
    return;
  }
  share(msg);
  const data = msg.data || {};
  if (msg.type.startsWith("alarm.")) {
    upsert(data.alarm, { fromEvent: true });
    if (msg.type === "alarm.new" || msg.type === "alarm.acknowledged") metricsSoon();
  }
  else if (msg.type === "operator.presence") presenceEvent(data);
  else if (msg.type.startsWith("call.")) popCall(msg.type, data);
  else if (msg.type.startsWith("order.")) orderEvent(data);
}

function applySnapshot(data) {
  const fresh = new Map((data.alarms || []).map((a) => [a.id, a]));
  // my resolved alarms are not open, so not in the snapshot: keep them until I close them
  for (const [id, a] of state.alarms) {
    if (!fresh.has(id) && a.state === "resolved" && a.acknowledged_by === me.id) fresh.set(id, a);
  }
  for (const id of [...state.alarms.keys()]) if (!fresh.has(id)) remove(id);
  for (const a of fresh.values()) {
    const old = state.alarms.get(a.id);
    if (old && RANK[a.state] < RANK[old.state]) state.alarms.delete(a.id);  // the snapshot is the truth
    upsert(a);
  }
  order();
  state.operators = new Map((data.operators || []).map((o) => [o.id, { display_name: o.display_name, available: o.available }]));
  renderOperators();
  ordersSnapshot(data.orders || []);
  loadMyResolved();
}

async function loadMyResolved() {
  // after a reload: resolved alarms of mine that still wait to be closed
  if (!cfg.can_handle) return;
  const r = await api("GET", "/api/v1/alarms?state=all&limit=100");
  if (!r.ok) return;
  for (const a of r.body.items || []) {
    if (a.state === "resolved" && a.acknowledged_by === me.id) upsert(a, { fromEvent: true });
  }
}


setInterval(() => {
  // never miss an alarm: remind while one waits for me
  if (!soundWanted()) return;
  for (const a of state.alarms.values()) {
    if (reachesMe(a) && a.priority < 5) { beep(); return; }
  }
}, REMINDER_MS);

// ---------- keyboard ----------

const keysDlg = document.getElementById("keys-dialog");
keysDlg.addEventListener("click", (ev) => { if (ev.target.closest("[data-dismiss]")) keysDlg.close(); });
document.getElementById("keys-open").addEventListener("click", () => keysDlg.showModal());

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function mostUrgentForMe() {
  return [...state.alarms.values()].filter(reachesMe).sort((a, b) =>
    (a.priority - b.priority) || (parseTime(a.created_at) - parseTime(b.created_at)) || (a.id - b.id))[0];
}

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
  if (document.querySelector("dialog[open]")) return;  // a dialog has the keyboard
  const key = ev.key.toLowerCase();
  if (key === "/") { ev.preventDefault(); focusSearch(); }
  else if (key === "?") { ev.preventDefault(); keysDlg.showModal(); }
  else if (key === "n" && cfg.can_order) { ev.preventDefault(); openNewOrder(null, null); }
  else if (key === "a" && cfg.can_handle) {
    const a = mostUrgentForMe();
    const btn = a && state.els.get(a.id)?.querySelector('button[data-do="acknowledge"]');
    if (btn) { ev.preventDefault(); btn.focus(); acknowledge(a.id, btn); }
  } else if (key === "h" && cfg.can_handle) {
    const mine = [...state.alarms.values()].find((a) => HANDLING.has(a.state) && a.acknowledged_by === me.id);
    if (mine) { ev.preventDefault(); openHandle(mine.id); }
  }
});

// the map and the elder profile ask for an alarm or an order to be opened
window.addEventListener("anxin-open-alarm", (ev) => {
  const id = ev.detail && ev.detail.id;
  const a = state.alarms.get(id);
  if (!a) return;
  if (HANDLING.has(a.state) && a.acknowledged_by === me.id) { openHandle(id); return; }
  const el = state.els.get(id);
  if (el) { el.scrollIntoView({ block: "nearest" }); el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash"); }
});
window.addEventListener("anxin-open-order", (ev) => {
  if (ev.detail && Number.isInteger(ev.detail.id)) openDetail(ev.detail.id);
});

// ---------- start ----------

showPresence(state.presence);
initOrders({ cfg, api, h, t, clock, dateTime, phone, errorText, parseTime, serverNow: () => serverClock.now() });
initProfile({
  cfg, api, h, t, dateTime, phone, errorText, parseTime, riskLabel, openNewOrder,
  serverNow: () => serverClock.now(),
  itemName: (item) => (item ? ((cfg.lang === "en" && item.name_en) || item.name || "—") : "—"),
});
summary();
renderOperators();
liveChannel({ onMessage: handle, onStatus: setConn, pingMs: PING_MS });
refreshMetrics();
setInterval(refreshMetrics, METRICS_MS);
setInterval(tick, 1000);
