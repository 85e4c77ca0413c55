// The operator console (orders part): the live order board, the new-order dialog (from the
// screen pop's call card or on its own; a one-off order or a recurring care plan) and an order's
// detail with its timeline, offers, its plan and the operator's interventions (manual dispatch,
// requeue, release, cancel, fail, review, stop the plan).
// console.js calls initOrders() with its helpers and forwards the live channel's snapshot and
// `order.*` messages; everything else about orders lives here.

import { hoursMinutes } from "./common.js";

const ACTIVE = new Set(["created", "queued", "offered", "accepted", "en_route", "on_site", "no_candidate"]);
const DONE = new Set(["completed", "reviewed"]);
const LINGER_MS = 120_000;       // a row that left the filter stays (dimmed) this long
const SEARCH_DELAY_MS = 250;
const FILTERS = ["active", "no_candidate", "completed_today", "all"];
// the state picker narrows the board to one state, or to the overdue orders
const PICKABLE = ["queued", "offered", "accepted", "en_route", "on_site", "no_candidate", "overdue"];
const NOT_STARTED = new Set(["created", "queued", "offered", "accepted", "en_route", "no_candidate"]);
// an order for "now" (no window) that nobody has reached within this long is overdue
const IMMEDIATE_OVERDUE_MS = 60 * 60_000;
// what an operator may do in each state (dispatch/states.py RULES, actor "operator")
const ACTIONS = {
  created: ["cancel"],
  queued: ["assign", "cancel"],
  offered: ["assign", "cancel"],
  no_candidate: ["assign", "requeue", "cancel"],
  accepted: ["release", "fail", "cancel"],
  en_route: ["release", "fail", "cancel"],
  on_site: ["fail"],
  completed: ["review"],
};
const NEEDS_REASON = new Set(["cancel", "release", "fail", "approve_minutes"]);
// a subsidised order may be granted more than its item's standard time before it is completed
const APPROVABLE = new Set([...NOT_STARTED, "on_site"]);

let X;                 // helpers from console.js: cfg, api, h, t, clock, dateTime, phone, errorText, parseTime
let t, h;
const st = {
  orders: new Map(),   // id -> card (every order this page has seen)
  rows: new Map(),     // id -> <tr>
  linger: new Map(),   // id -> timer of a row that no longer matches the filter
  filter: "active",
  state: "",           // "" (every state), a state of PICKABLE, or "overdue"
  loaded: false,       // the current filter's list has arrived
  fresh: new Set(),    // ids to flash when their row is drawn
  detailId: null,
  detail: null,        // GET /api/v1/orders/{id} of the open detail dialog
  detailTimer: null,
  action: null,        // the action whose form is open in the detail dialog
  pick: { elder: null, callId: null },
  found: new Map(),    // elder id -> the search hit shown in the new-order dialog
  candidates: null,    // GET /api/v1/orders/{id}/candidates of the open assign form
  plans: new Map(),    // plan id -> plan (GET /api/v1/plans), for the detail of a plan's order
};
let board, tbody, emptyEl, countsEl, filterBar, newDlg, form, detailDlg;

// ---------- small helpers ----------

function bi(text) {
  // the server writes "中文 (English)": show the half in the page's language
  if (!text) return "";
  const s = String(text).trim();
  const at = s.lastIndexOf(" (");
  if (!s.endsWith(")") || at <= 0) return s;
  return X.cfg.lang === "en" ? s.slice(at + 2, -1) : s.slice(0, at);
}

function paren(text) {
  return X.cfg.lang === "en" ? ` (${text})` : `（${text}）`;
}

function itemName(item) {
  if (!item) return "—";
  return (X.cfg.lang === "en" && item.name_en) || item.name || item.code || "—";
}

function money(cents) {
  return cents === null || cents === undefined ? "—" : `¥${(cents / 100).toFixed(2)}`;
}

const dayFmt = () => new Intl.DateTimeFormat("en-CA", {
  timeZone: X.cfg.tz, year: "numeric", month: "2-digit", day: "2-digit" });

function localDay(value) {
  const d = X.parseTime(value);
  return d ? dayFmt().format(d) : null;
}

function today() { return dayFmt().format(new Date()); }

function shortTime(value) {
  // today: 08:01:02; another day: 11-24 08:01
  return localDay(value) === today() ? X.clock(value) : X.dateTime(value);
}

function hhmm(value) {
  const d = X.parseTime(value);
  if (!d) return "";
  return new Intl.DateTimeFormat("en-GB", { timeZone: X.cfg.tz, hour: "2-digit", minute: "2-digit",
    hourCycle: "h23" }).format(d);
}

function monthDay(value) {
  const d = X.parseTime(value);
  return d ? new Intl.DateTimeFormat(X.cfg.lang === "en" ? "en-GB" : "zh-CN", {
    timeZone: X.cfg.tz, month: "2-digit", day: "2-digit" }).format(d) : "";
}

function windowText(o) {
  if (!o.window_start) return t("ord_now");
  const day = localDay(o.window_start) === today() ? t("ord_today") : monthDay(o.window_start);
  return `${day} ${hhmm(o.window_start)}–${hhmm(o.window_end)}`;
}

function windowCell(o) {
  // the board: the hours, and the day under them
  if (!o.window_start) return [t("ord_now")];
  const day = localDay(o.window_start) === today() ? t("ord_today") : monthDay(o.window_start);
  return [h("span", {}, `${hhmm(o.window_start)}–${hhmm(o.window_end)}`), h("small", { class: "muted" }, day)];
}

function duration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 60) return `${s}${X.cfg.lang === "en" ? " " : ""}${t("con_seconds")}`;
  const m = Math.round(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}${t("ord_h")}${m % 60}${t("ord_min")}` : `${m}${t("ord_min")}`;
}

function badge(state) {
  return h("span", { class: `os-badge os-${state}` }, t(`os_${state}`));
}

function setMsg(el, text, ok) {
  el.textContent = text || "";
  el.classList.toggle("ok", Boolean(text && ok));
  el.classList.toggle("error", Boolean(text && !ok));
}

// ---------- the board ----------

/** Not yet on site although its window has closed (or, without a window, an hour after it was
 * made): the operator should chase it. */
export function isOverdue(o, now = Date.now()) {
  if (!NOT_STARTED.has(o.state)) return false;
  if (o.window_end) return X.parseTime(o.window_end) < now;
  if (o.window_start) return false;
  const made = X.parseTime(o.created_at);
  return Boolean(made) && now - made.getTime() > IMMEDIATE_OVERDUE_MS;
}

function matches(o, filter = st.filter) {
  if (st.state && (st.state === "overdue" ? !isOverdue(o, X.serverNow()) : o.state !== st.state)) return false;
  if (filter === "active") return ACTIVE.has(o.state);
  if (filter === "no_candidate") return o.state === "no_candidate";
  if (filter === "completed_today") return DONE.has(o.state) && localDay(o.checked_out_at) === today();
  return true;
}

function upsert(card, { live = false } = {}) {
  if (!card || card.id === undefined) return;
  const old = st.orders.get(card.id);
  if (old && X.parseTime(card.updated_at) < X.parseTime(old.updated_at)) return;  // a stale event
  st.orders.set(card.id, card);
  if (matches(card)) {
    const timer = st.linger.get(card.id);
    if (timer) { clearTimeout(timer); st.linger.delete(card.id); }
    if (live && !old) st.fresh.add(card.id);
    renderRow(card, false);
  } else if (st.rows.has(card.id)) {
    renderRow(card, true);
    if (!st.linger.has(card.id)) {
      st.linger.set(card.id, setTimeout(() => dropRow(card.id), LINGER_MS));
    }
  }
  counts();
  if (st.detailId === card.id) {
    renderSummary(card);
    if (live) detailSoon();
  }
}

function dropRow(id) {
  const tr = st.rows.get(id);
  if (tr) tr.remove();
  st.rows.delete(id);
  const timer = st.linger.get(id);
  if (timer) clearTimeout(timer);
  st.linger.delete(id);
  counts();
}

function placeRow(tr, id) {
  // newest first: a row never moves once drawn, so live changes do not shift the board
  let before = null;
  for (const other of tbody.children) {
    if (Number(other.dataset.orderId) < id) { before = other; break; }
  }
  if (tr.parentNode !== tbody || tr.nextSibling !== before) tbody.insertBefore(tr, before);
}

function renderRow(o, left) {
  let tr = st.rows.get(o.id);
  if (!tr) {
    tr = h("tr", { "data-order-id": o.id });
    st.rows.set(o.id, tr);
    placeRow(tr, o.id);
  }
  tr.dataset.state = o.state;
  const overdue = isOverdue(o, X.serverNow());
  tr.className = ["order-row", `os-${o.state}`, left ? "left" : "", overdue ? "overdue" : "",
    st.fresh.has(o.id) ? "fresh" : ""].filter(Boolean).join(" ");
  st.fresh.delete(o.id);
  const reason = (o.state === "no_candidate" || o.state === "cancelled" || o.state === "failed") && o.reason
    ? h("p", { class: "order-reason" }, bi(o.reason)) : null;
  const staff = o.staff
    ? [h("span", {}, o.staff.name), o.provider ? h("small", { class: "muted", title: o.provider.name }, o.provider.name) : null]
    : [h("span", { class: "muted" }, "—")];
  const actions = o.state === "no_candidate" && X.cfg.can_order
    ? [h("button", { type: "button", class: "primary", "data-open": "assign",
      "aria-label": `${t("ord_assign")} #${o.id}` }, t("ord_assign"))] : [];
  tr.replaceChildren(
    h("td", { class: "oc-id" },
      h("button", { type: "button", class: "order-open", "data-open": "detail", title: t("ord_detail"),
        "aria-label": `${t("ord_detail")} #${o.id}` }, `#${o.id}`),
      o.priority <= 2 ? h("span", { class: "prio-hi" }, `P${o.priority}`) : null),
    h("td", { class: "oc-item" }, h("span", {}, itemName(o.item)), h("small", { class: "muted" }, o.item ? o.item.code : "")),
    h("td", { class: "oc-elder" }, h("span", {}, o.elder ? o.elder.name : "—"), h("small", { class: "muted" }, o.region_name || "")),
    h("td", { class: "oc-state" }, badge(o.state),
      overdue ? h("span", { class: "overdue-badge" }, t("ord_overdue")) : null,
      o.state === "created" && o.window_start ? h("small", { class: "muted" }, t("ord_scheduled")) : null,
      o.widened && ACTIVE.has(o.state) ? h("small", { class: "muted" }, t("ord_widened")) : null, reason),
    h("td", { class: "oc-staff" }, ...staff),
    h("td", { class: "oc-window" }, ...windowCell(o)),
    h("td", { class: "oc-updated" }, h("time", { datetime: o.updated_at, title: X.dateTime(o.updated_at) }, shortTime(o.updated_at))),
    h("td", { class: "oc-actions" }, ...actions));
}

function counts() {
  let active = 0, nc = 0;
  for (const o of st.orders.values()) {
    if (ACTIVE.has(o.state)) active += 1;
    if (o.state === "no_candidate") nc += 1;
  }
  countsEl.textContent = `${t("ord_active")} ${active}`;
  const ncBtn = filterBar.querySelector('[data-filter="no_candidate"] .n');
  ncBtn.textContent = nc ? String(nc) : "";
  ncBtn.hidden = !nc;
  emptyEl.hidden = !st.loaded || tbody.children.length > 0;
}

function redraw() {
  for (const id of [...st.rows.keys()]) dropRow(id);
  const list = [...st.orders.values()].filter((o) => matches(o)).sort((a, b) => b.id - a.id);
  for (const o of list) renderRow(o, false);
  counts();
}

async function setFilter(filter) {
  st.filter = filter;
  for (const b of filterBar.querySelectorAll("button[data-filter]")) {
    b.setAttribute("aria-pressed", b.dataset.filter === filter ? "true" : "false");
  }
  if (filter === "active" || filter === "no_candidate") {
    st.loaded = true;
    redraw();
    return;
  }
  st.loaded = false;
  redraw();
  emptyEl.hidden = false;
  emptyEl.textContent = t("con_loading");
  const r = await X.api("GET", `/api/v1/orders?state=all&limit=${filter === "all" ? 200 : 500}`);
  if (st.filter !== filter) return;
  emptyEl.textContent = t("ord_empty");
  if (!r.ok) { emptyEl.textContent = X.errorText(r); return; }
  for (const o of r.body.items || []) {
    const old = st.orders.get(o.id);
    if (!old || X.parseTime(o.updated_at) >= X.parseTime(old.updated_at)) st.orders.set(o.id, o);
  }
  st.loaded = true;
  redraw();
}

export function ordersSnapshot(list) {
  // the snapshot is the truth about active orders: one that is missing from it has moved on
  const fresh = new Map((list || []).map((o) => [o.id, o]));
  for (const [id, o] of st.orders) {
    if (ACTIVE.has(o.state) && !fresh.has(id)) st.orders.delete(id);
  }
  for (const o of fresh.values()) {
    const old = st.orders.get(o.id);
    if (!old || X.parseTime(o.updated_at) >= X.parseTime(old.updated_at)) st.orders.set(o.id, o);
  }
  if (st.filter === "active" || st.filter === "no_candidate") st.loaded = true;
  redraw();
  if (st.detailId !== null) detailSoon();
}

export function orderEvent(data) {
  if (data && data.order) upsert(data.order, { live: true });
}

// ---------- the new-order dialog ----------

function fieldError(name, text) {
  const p = form.querySelector(`.field-error[data-for="${name}"]`);
  if (p) { p.textContent = text || ""; p.hidden = !text; }
}

function clearErrors() {
  for (const p of form.querySelectorAll(".field-error")) { p.textContent = ""; p.hidden = true; }
  setMsg(newDlg.querySelector(".dlg-msg"), "");
  clearOverBudget();
}

// Over budget: the server refuses with 409 over_budget and the numbers (hours left, the item's
// duration, the self-paid minutes and amount); the operator tells the elder, and only once they
// agree is the order sent again with self_pay_confirmed (recorded on the order's timeline).
function clearOverBudget() {
  const box = form.querySelector(".over-budget");
  if (box) box.remove();
}

function showOverBudget(q, body) {
  clearOverBudget();
  const min = (n) => `${n}${X.cfg.lang === "en" ? " " : ""}${t("ord_ob_min")}`;
  const box = h("div", { class: "over-budget", role: "alert" },
    h("p", {}, h("strong", {}, t("ord_ob_title"))),
    h("p", { class: "ob-figures" }, [`${t("ord_ob_left")}: ${min(q.left_min)}`,
      `${t("ord_ob_needed")}: ${min(q.needed_min)}`,
      `${t("ord_ob_self")}: ${min(q.self_paid_min)} ${money(q.self_paid_cents)}`].join(" · ")),
    h("p", { class: "muted" }, t("ord_ob_ask")),
    h("button", { type: "button", class: "primary ob-confirm",
      onclick: () => { clearOverBudget(); sendNew({ ...body, self_pay_confirmed: true }); } }, t("ord_ob_confirm")),
    h("button", { type: "button", class: "ob-cancel", onclick: clearOverBudget }, t("ord_ob_cancel")));
  form.querySelector(".dlg-foot").before(box);
  box.querySelector(".ob-confirm").focus();
}

function showElder() {
  const e = st.pick.elder;
  const picked = form.querySelector(".elder-picked");
  const search = form.querySelector(".elder-search");
  picked.hidden = !e;
  search.hidden = Boolean(e);
  showSubsidy();
  if (!e) return;
  const meta = [e.age !== undefined && e.age !== null ? `${e.age}${X.cfg.lang === "en" ? " " : ""}${t("years")}` : "",
    e.id_number || "", e.address || e.region_name || "", (e.phones || []).map(X.phone).join(" / ")]
    .filter(Boolean).join(" · ");
  picked.querySelector(".ep-name").textContent = e.name;
  picked.querySelector(".ep-meta").textContent = meta;
  picked.querySelector(".ep-call").hidden = !st.pick.callId;
}

// Subsidised hours: with an eligible elder and a subsidy-eligible item picked, the dialog says
// what is left of this month's budget, so the elder is told before the order is placed.
let subsidySeq = 0;

async function showSubsidy() {
  let note = form.querySelector(".subsidy-note");
  if (!note) {
    note = h("p", { class: "subsidy-note muted", role: "status" });
    form.querySelector(".item-list").after(note);
  }
  note.hidden = true;
  const e = st.pick.elder;
  const checked = form.querySelector('input[name="item_code"]:checked');
  const item = checked ? (X.cfg.items || []).find((i) => i.code === checked.value) : null;
  const seq = ++subsidySeq;
  if (!e || !item || !item.subsidy_eligible) return;
  const r = await X.api("GET", `/api/v1/elders/${e.id}/subsidy`);
  if (seq !== subsidySeq || !r.ok || !r.body.eligible) return;
  const sep = X.cfg.lang === "en" ? "; " : "；";
  note.textContent = `${t("ord_subsidy_left")} ${hoursMinutes(r.body.left_min, t)}${sep}${t("ord_subsidy_beyond")}`;
  note.hidden = false;
}

let searchTimer = null;
let searchSeq = 0;

async function searchElders() {
  const q = form.elements.elder_q.value.trim();
  const list = form.querySelector(".elder-results");
  if (!q) { list.replaceChildren(); return; }
  const seq = ++searchSeq;
  const r = await X.api("GET", `/api/v1/elders?q=${encodeURIComponent(q)}&limit=8`);
  if (seq !== searchSeq) return;
  if (!r.ok) { list.replaceChildren(h("li", { class: "muted" }, bi(X.errorText(r)))); return; }
  const items = (r.body.items || []).filter((e) => e.status === "active" || !e.status);
  list.replaceChildren(...(items.length ? items.map((e) => h("li", {},
    h("button", { type: "button", class: "elder-hit", "data-elder-id": e.id },
      h("strong", {}, e.name),
      h("span", { class: "muted" }, [e.age !== null && e.age !== undefined ? `${e.age}${t("years")}` : "",
        e.id_number, e.region_name].filter(Boolean).join(" · "))))) : [h("li", { class: "muted" }, t("ord_no_match"))]));
  st.found = new Map(items.map((e) => [String(e.id), e]));
}

function renderItems() {
  const q = form.elements.item_q.value.trim().toLowerCase();
  const checked = form.querySelector('input[name="item_code"]:checked');
  const keep = checked ? checked.value : null;
  const box = form.querySelector(".item-list");
  // code, Chinese name, pinyin initials ("zy" finds 助浴), English name or category
  const hits = (X.cfg.items || []).filter((i) => !q || i.code.toLowerCase().includes(q) ||
    (i.name || "").toLowerCase().includes(q) || (i.initials || "").includes(q) ||
    (i.name_en || "").toLowerCase().includes(q) || (i.category || "").toLowerCase().includes(q));
  box.replaceChildren(...(hits.length ? hits.map((i) => h("label", { class: "item-opt" },
    h("input", { type: "radio", name: "item_code", value: i.code, checked: i.code === keep }),
    h("span", { class: "code" }, i.code),
    h("span", { class: "iname" }, itemName(i)),
    h("span", { class: "muted" }, [i.category, `${i.duration_min}${t("ord_min")}`, money(i.price_cents),
      i.subsidy_eligible ? t("ord_subsidy") : ""].filter(Boolean).join(" · ")))) :
    [h("p", { class: "muted" }, t("ord_no_match"))]));
}

export function openNewOrder(elder, callId) {
  if (!X.cfg.can_order) return;
  form.reset();
  st.pick = { elder: elder || null, callId: callId || null };
  clearErrors();
  form.querySelector(".elder-results").replaceChildren();
  renderItems();
  showElder();
  showKind();
  form.querySelector("button[type=submit]").disabled = false;
  if (!newDlg.open) newDlg.showModal();
  (elder ? form.elements.item_q : form.elements.elder_q).focus();
}

/** The screen pop's button: a new order for the caller, linked to the call. */
export function popOrderButton(elder, call) {
  if (!X.cfg.can_order || !elder || elder.id === undefined) return document.createDocumentFragment();
  const callId = call && Number.isInteger(call.id) ? call.id : null;
  return h("button", { type: "button", class: "pop-order", onclick: () => openNewOrder(elder, callId) },
    t("ord_new_for_caller"));
}

function localOffset(dateStr) {
  // the console's time zone's offset on that day, e.g. "+08:00"
  try {
    const probe = new Date(`${dateStr}T12:00:00Z`);
    const name = new Intl.DateTimeFormat("en-US", { timeZone: X.cfg.tz, timeZoneName: "longOffset" })
      .formatToParts(probe).find((p) => p.type === "timeZoneName").value;
    const m = /GMT([+-]\d{2}:\d{2})?/.exec(name);
    return m ? (m[1] || "+00:00") : "";
  } catch { return ""; }
}

function isPlan() {
  return form.elements.kind.value === "plan";
}

function showKind() {
  // a one-off order (now or in a window) or a recurring plan: weekdays, a time, optional dates
  const plan = isPlan();
  form.querySelector(".once-fields").hidden = plan;
  form.querySelector(".plan-fields").hidden = !plan;
  const submit = form.querySelector("button[type=submit]");
  submit.textContent = plan ? submit.dataset.plan : submit.dataset.once;
}

function readPlan(data, body) {
  let ok = true;
  const days = data.getAll("weekday").map(Number);
  if (!days.length) { fieldError("weekdays", t("ord_pick_weekdays")); ok = false; }
  body.weekdays = days;
  const from = data.get("start_time"), to = data.get("end_time");
  if (!(from && to)) { fieldError("start_time", t("ord_plan_times")); ok = false; }
  else if (to <= from) { fieldError("end_time", t("ord_window_order")); ok = false; }
  body.start_time = from;
  body.end_time = to;
  for (const k of ["valid_from", "valid_until"]) if (data.get(k)) body[k] = data.get(k);
  const note = (data.get("note") || "").trim();
  if (note) body.note = note;
  return ok;
}

function readForm() {
  const data = new FormData(form);
  const body = {};
  let ok = true;
  if (!st.pick.elder) { fieldError("elder_id", t("ord_pick_elder")); ok = false; }
  else body.elder_id = st.pick.elder.id;
  const item = data.get("item_code");
  if (!item) { fieldError("item_code", t("ord_pick_item")); ok = false; }
  else body.item_code = item;
  if (isPlan()) return readPlan(data, body) && ok ? body : null;
  const day = data.get("day"), from = data.get("from"), to = data.get("to");
  if (day || from || to) {
    if (!(day && from && to)) { fieldError("window_start", t("ord_window_all")); ok = false; }
    else if (to <= from) { fieldError("window_end", t("ord_window_order")); ok = false; }
    else {
      const off = localOffset(day);
      body.window_start = `${day}T${from}:00${off}`;
      body.window_end = `${day}T${to}:00${off}`;
    }
  }
  const note = (data.get("note") || "").trim();
  if (note) body.note = note;
  const prio = Number(data.get("priority") || 3);
  if (prio !== 3) body.priority = prio;
  if (st.pick.callId) body.call_id = st.pick.callId;
  return ok ? body : null;
}

async function submitNew(ev) {
  ev.preventDefault();
  clearErrors();
  const body = readForm();
  if (body) await sendNew(body);
}

async function sendNew(body) {
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  const plan = isPlan();
  const r = plan ? await X.api("POST", "/api/v1/plans", body)
    : await X.api("POST", "/api/v1/orders", body, { "X-Requested-With": "console" });
  submit.disabled = false;
  if (!plan && r.status === 409 && r.body && r.body.error === "over_budget") {
    showOverBudget(r.body, body);
    return;
  }
  if (!r.ok) {
    const fields = (r.body && r.body.fields) || {};
    let shown = false;
    for (const [k, v] of Object.entries(fields)) {
      const name = k === "call_id" ? "elder_id" : k;
      if (form.querySelector(`.field-error[data-for="${name}"]`)) { fieldError(name, bi(v)); shown = true; }
    }
    setMsg(newDlg.querySelector(".dlg-msg"), shown ? t("ord_fix_fields") : bi(X.errorText(r)));
    return;
  }
  if (plan) {
    // the plan's orders come onto the board as live order.create events; the dialog stays
    // open with the result, its button off until the form is changed (no second plan by a
    // double click)
    st.plans.set(r.body.id, r.body);
    submit.disabled = true;
    setMsg(newDlg.querySelector(".dlg-msg"), t("ord_plan_made").replace("{n}", r.body.orders_created), true);
    return;
  }
  newDlg.close();
  upsert(r.body, { live: !st.orders.has(r.body.id) });
  openDetail(r.body.id);
}

// ---------- the detail dialog ----------

function detailSoon() {
  // live events come in bursts (offer, accept…): fetch the timeline once they settle
  clearTimeout(st.detailTimer);
  st.detailTimer = setTimeout(() => { if (st.detailId !== null) loadDetail(st.detailId); }, 150);
}

export async function openDetail(id, { assign = false } = {}) {
  st.detailId = id;
  st.detail = null;
  st.action = null;
  const card = st.orders.get(id);
  const q = (s) => detailDlg.querySelector(s);
  q(".order-timeline").replaceChildren(h("li", { class: "muted" }, t("con_loading")));
  q(".od-offers").replaceChildren();
  q(".od-form").hidden = true;
  setMsg(q(".dlg-foot .dlg-msg"), "");
  confirmStop(false);
  setMsg(q(".od-plan-msg"), "");
  if (card) { renderSummary(card); renderFacts(card); renderActions(card); }
  detailDlg.querySelector(".od-plan").hidden = true;
  if (card && card.plan_id) st.plans.delete(card.plan_id);  // fetched afresh on each opening
  if (!detailDlg.open) detailDlg.showModal();
  await loadDetail(id);
  if (assign && st.detailId === id && st.detail && (ACTIONS[st.detail.state] || []).includes("assign")) {
    await startAction("assign");
  }
}

async function loadDetail(id) {
  const r = await X.api("GET", `/api/v1/orders/${id}`);
  if (st.detailId !== id) return;
  if (!r.ok) { setMsg(detailDlg.querySelector(".dlg-foot .dlg-msg"), bi(X.errorText(r))); return; }
  st.detail = r.body;
  const { timeline, offers, ...card } = r.body;
  upsert(card);
  renderSummary(card);
  renderFacts(card);
  renderOffers(offers || []);
  renderTimeline(timeline || []);
  renderActions(card);
  renderPlan(card);
}

function planText(p) {
  const days = p.weekdays.map((d) => t(`ord_wd_${d}`)).join(X.cfg.lang === "en" ? ", " : "、");
  const parts = [t("ord_plan_every").replace("{days}", X.cfg.lang === "en" ? days : days.replaceAll("周", ""))
    .replace("{from}", p.start_time).replace("{to}", p.end_time)];
  if (p.valid_from) parts.push(t("ord_plan_since").replace("{from}", p.valid_from));
  if (p.valid_until) parts.push(t("ord_plan_until").replace("{until}", p.valid_until));
  if (p.note) parts.push(p.note);
  return parts.flatMap((x, i) => [i ? " · " : "", h("span", { class: "nb" }, x)]);
}

async function renderPlan(o) {
  // an order made by a care plan shows the plan, and the button that stops it
  const box = detailDlg.querySelector(".od-plan");
  box.hidden = !o.plan_id;
  if (!o.plan_id) return;
  let p = st.plans.get(o.plan_id);
  if (!p) {
    const id = st.detailId;
    const r = await X.api("GET", `/api/v1/plans?elder_id=${o.elder ? o.elder.id : o.elder_id}`);
    if (!r.ok || st.detailId !== id) return;
    for (const x of r.body.items || []) st.plans.set(x.id, x);
    p = st.plans.get(o.plan_id);
    if (!p) { box.hidden = true; return; }
  }
  box.dataset.planId = p.id;
  box.querySelector(".od-plan-id").textContent = `#${p.id}`;
  box.querySelector(".od-plan-text").replaceChildren(...planText(p),
    p.active ? "" : h("span", { class: "tag" }, t("ord_plan_stopped")));
  const canStop = X.cfg.can_order && p.active;
  box.querySelector(".od-plan-stop").hidden = !canStop;
  if (!canStop) confirmStop(false);
}

function confirmStop(open) {
  // 停止计划 asks once more, in place
  const box = detailDlg.querySelector(".od-plan");
  box.querySelector(".od-plan-confirm").hidden = !open;
  box.querySelector(".od-plan-row").hidden = open;
  if (open) {
    setMsg(box.querySelector(".od-plan-msg"), "");
    box.querySelector(".od-plan-yes").focus();
  }
}

async function stopPlan() {
  const box = detailDlg.querySelector(".od-plan");
  const id = Number(box.dataset.planId);
  const yes = box.querySelector(".od-plan-yes");
  yes.disabled = true;
  const r = await X.api("POST", `/api/v1/plans/${id}/stop`, {});
  yes.disabled = false;
  confirmStop(false);
  if (!r.ok) { setMsg(box.querySelector(".od-plan-msg"), bi(X.errorText(r))); return; }
  st.plans.set(id, r.body);
  setMsg(box.querySelector(".od-plan-msg"), t("ord_plan_stopped_ok"), true);
  if (st.detail) renderPlan(st.detail);
}

function renderSummary(o) {
  const s = detailDlg.querySelector(".od-summary");
  s.replaceChildren(`#${o.id} · ${itemName(o.item)} · ${o.elder ? o.elder.name : ""} `, badge(o.state));
  detailDlg.dataset.state = o.state;
  detailDlg.dataset.orderId = o.id;
}

function renderFacts(o) {
  const rows = [];
  const add = (k, v) => { if (v !== null && v !== undefined && v !== "") rows.push(h("dt", {}, k), h("dd", {}, v)); };
  const e = o.elder || {};
  add(t("ord_elder"), [e.name, e.id_number].filter(Boolean).join(" · "));
  add(t("address"), e.address || "—");
  add(t("phones"), (e.phones || []).map(X.phone).join(" / ") || "—");
  add(t("ord_item"), o.item ? `${itemName(o.item)}${paren(o.item.code)} · ${o.item.duration_min ?? "—"}${t("ord_min")}` : "—");
  add(t("ord_price"), `${money(o.price_cents)}${o.subsidy_eligible ? ` · ${t("ord_subsidy")}` : ""}`);
  add(t("ord_window"), windowText(o));
  add(t("con_priority"), `P${o.priority}`);
  add(t("ord_source"), t(`ord_src_${o.source}`));
  add(t("region"), o.region_name);
  add(t("ord_staff"), o.staff ? `${o.staff.name} ${X.phone(o.staff.phone)}` : "—");
  add(t("ord_provider"), o.provider ? o.provider.name : null);
  add(t("ord_reason"), o.reason ? bi(o.reason) : null);
  add(t("con_note"), o.note || null);
  add(t("ord_created"), X.dateTime(o.created_at));
  if (o.checkin_distance_m !== null && o.checkin_distance_m !== undefined) {
    add(t("ord_checkin_distance"), `${o.checkin_distance_m} ${t("ord_m")}`);
  }
  if (o.duration_s !== null && o.duration_s !== undefined) add(t("ord_duration"), duration(o.duration_s));
  add(t("ord_checkout_note"), o.checkout_note || null);
  if (o.call_id) add(t("ord_call"), `#${o.call_id}`);
  if (o.alarm_id) add(t("ord_alarm"), `#${o.alarm_id}`);
  detailDlg.querySelector(".od-facts").replaceChildren(...rows);
}

function staffName(id) {
  const d = st.detail;
  const f = d && (d.offers || []).find((x) => x.staff_id === id);
  if (f) return f.staff_name;
  if (d && d.staff && d.staff.id === id) return d.staff.name;
  const c = st.candidates && st.candidates.find((x) => x.id === id);
  return c ? c.name : `${t("ord_staff")} #${id}`;
}

function renderOffers(offers) {
  const table = detailDlg.querySelector(".od-offers");
  if (!offers.length) {
    table.replaceChildren(h("caption", { class: "muted" }, t("ord_no_offers")));
    return;
  }
  table.replaceChildren(
    h("thead", {}, h("tr", {}, ...["ord_staff", "ord_offer_state", "ord_score", "ord_distance", "ord_offered_at", "ord_answered_at"]
      .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, ...offers.map((f) => h("tr", { "data-offer-state": f.state },
      h("td", {}, f.staff_name),
      h("td", {}, t(`ord_of_${f.state}`), f.reason ? h("small", { class: "muted" }, ` ${bi(f.reason === "manual" ? t("ord_manual") : f.reason)}`) : null),
      h("td", { class: "num" }, f.reason === "manual" ? "—" : Number(f.score).toFixed(2)),
      h("td", { class: "num" }, f.reason === "manual" ? "—" : `${f.distance_m} ${t("ord_m")}`),
      h("td", {}, X.clock(f.offered_at)),
      h("td", {}, f.answered_at ? X.clock(f.answered_at) : "—")))));
}

function actorText(ev) {
  if (ev.actor_name) return ev.actor_name;
  return t(`ord_actor_${ev.actor || "system"}`);
}

function eventText(ev) {
  const d = ev.detail || {};
  const parts = [t(`ord_ev_${ev.event}`)];
  if (ev.from_state && ev.to_state && ev.from_state !== ev.to_state) {
    parts[0] += paren(`${t(`os_${ev.from_state}`)} → ${t(`os_${ev.to_state}`)}`);
  }
  if (ev.event === "create" && d.source) parts.push(t(`ord_src_${d.source}`));
  if (ev.event === "offer" && d.offered_to) parts.push(`${t("ord_to")} ${d.offered_to.map(staffName).join("、")}`);
  if (d.radius_m !== undefined && (ev.event === "widen" || ev.event === "offer")) {
    parts.push(`${t("ord_radius")} ${(d.radius_m / 1000).toFixed(1).replace(/\.0$/, "")} ${t("ord_km")}`);
  }
  if (ev.event === "widen" && d.why) parts.push(bi(d.why));
  if ((ev.event === "assign" || ev.event === "decline" || ev.event === "expire") && d.staff_id) parts.push(staffName(d.staff_id));
  if (d.distance_m !== undefined && d.distance_m !== null && ev.event === "check_in") parts.push(`${t("ord_distance")} ${d.distance_m} ${t("ord_m")}`);
  if (d.duration_s !== undefined && ev.event === "check_out") parts.push(`${t("ord_duration")} ${duration(d.duration_s)}`);
  if (ev.event === "approve_minutes" && d.minutes) parts.push(`${d.minutes}${t("ord_min")}`);
  if (d.reason) parts.push(`“${bi(d.reason)}”`);
  return parts.join(" · ");
}

function candidatesBlock(list) {
  if (!list || !list.length) return null;
  const rows = list.map((c, i) => h("tr", {},
    h("td", {}, `${i + 1}. ${staffName(c.staff_id)}`),
    h("td", { class: "num" }, Number(c.score).toFixed(2)),
    h("td", { class: "num" }, `${c.distance_m} ${t("ord_m")}`),
    h("td", { class: "muted" }, Object.entries(c.parts || {}).map(([k, v]) => `${t(`ord_part_${k}`)} ${Number(v).toFixed(2)}`).join(" · "))));
  return h("details", { class: "cands" }, h("summary", {}, `${t("ord_candidates")} (${list.length})`),
    h("table", {}, h("thead", {}, h("tr", {}, ...["ord_staff", "ord_score", "ord_distance", "ord_parts"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, ...rows)));
}

function renderTimeline(events) {
  const items = events.map((ev) => h("li", { "data-event": ev.event || "", class: `ev-${ev.event}` },
    h("time", { datetime: ev.at, title: X.dateTime(ev.at) }, X.clock(ev.at)),
    h("span", { class: "what" }, eventText(ev)),
    h("span", { class: "actor" }, actorText(ev)),
    ev.event === "offer" ? candidatesBlock((ev.detail || {}).candidates) : null));
  const ol = detailDlg.querySelector(".order-timeline");
  const open = new Set([...ol.querySelectorAll("details[open]")].map((d) => d.closest("li").dataset.event));
  ol.replaceChildren(...(items.length ? items : [h("li", { class: "muted" }, t("con_none"))]));
  for (const d of ol.querySelectorAll("details")) if (open.has(d.closest("li").dataset.event)) d.open = true;
}

function renderActions(o) {
  const box = detailDlg.querySelector(".od-actions");
  const acts = X.cfg.can_order ? [...(ACTIONS[o.state] || [])] : [];
  if (X.cfg.can_order && o.subsidy_eligible && APPROVABLE.has(o.state)) acts.push("approve_minutes");
  box.replaceChildren(...acts.map((a) => h("button", { type: "button", "data-act": a,
    class: a === "assign" && o.state === "no_candidate" ? "primary" : a === "cancel" ? "danger" : "" }, t(`ord_act_${a}`))));
  box.hidden = !acts.length;
  if (st.action && !acts.includes(st.action)) closeAction();
}

function closeAction() {
  st.action = null;
  const f = detailDlg.querySelector(".od-form");
  f.hidden = true;
  for (const b of detailDlg.querySelectorAll(".od-actions button")) b.setAttribute("aria-expanded", "false");
}

async function startAction(act) {
  st.action = act;
  const f = detailDlg.querySelector(".od-form");
  for (const b of detailDlg.querySelectorAll(".od-actions button")) {
    b.setAttribute("aria-expanded", b.dataset.act === act ? "true" : "false");
  }
  f.reset();
  f.dataset.act = act;
  f.querySelector(".od-form-title").textContent = t(`ord_act_${act}`);
  f.querySelector(".od-form-help").textContent = t(`ord_help_${act}`);
  const reason = f.elements.reason;
  reason.required = NEEDS_REASON.has(act);
  f.querySelector(".reason-label").textContent = NEEDS_REASON.has(act) ? t("ord_reason_required") : t("ord_reason_optional");
  f.querySelector(".od-confirm").textContent = t(`ord_confirm_${act}`);
  f.querySelector(".od-confirm").disabled = false;
  const minutes = f.querySelector(".minutes-label");
  minutes.hidden = act !== "approve_minutes";
  f.elements.minutes.required = act === "approve_minutes";
  const list = f.querySelector(".cand-list");
  list.hidden = act !== "assign";
  list.replaceChildren();
  setMsg(f.querySelector(".od-form-msg"), "");
  f.hidden = false;
  if (act === "assign") {
    list.replaceChildren(h("p", { class: "muted" }, t("con_loading")));
    const id = st.detailId;
    const r = await X.api("GET", `/api/v1/orders/${id}/candidates`);
    if (st.detailId !== id || st.action !== act) return;
    if (!r.ok) { list.replaceChildren(h("p", { class: "error" }, bi(X.errorText(r)))); return; }
    st.candidates = r.body.items || [];
    renderCandidates(list, st.candidates);
    const first = list.querySelector("input[type=radio]");
    (first || reason).focus();
  } else if (act === "approve_minutes") {
    const std = st.detail && st.detail.item ? st.detail.item.duration_min : null;
    if (std) f.elements.minutes.value = String(std + 30);
    f.elements.minutes.focus();
  } else {
    reason.focus();
  }
}

function renderCandidates(list, items) {
  if (!items.length) {
    list.replaceChildren(h("p", { class: "muted" }, t("ord_no_candidates")));
    detailDlg.querySelector(".od-confirm").disabled = true;
    return;
  }
  list.replaceChildren(h("fieldset", {}, h("legend", { class: "sr-only" }, t("ord_pick_staff")),
    ...items.map((c) => {
      const full = c.load >= c.capacity;
      return h("label", { class: `cand${full ? " full" : ""}` },
        h("input", { type: "radio", name: "staff_id", value: String(c.id) }),
        h("span", { class: "cname" }, c.name),
        h("span", { class: c.on_shift ? "on" : "off" }, c.on_shift ? t("ord_on_shift") : t("ord_off_shift")),
        h("span", { class: "muted" }, [c.provider_name, `${t("ord_load")} ${c.load}/${c.capacity}`,
          c.home_distance_m !== null && c.home_distance_m !== undefined ? `${t("ord_home_distance")} ${(c.home_distance_m / 1000).toFixed(1)} ${t("ord_km")}` : "",
          X.phone(c.phone)].filter(Boolean).join(" · ")));
    })));
}

async function submitAction(ev) {
  ev.preventDefault();
  const f = ev.target;
  const act = st.action;
  const id = st.detailId;
  if (!act || id === null) return;
  const msg = f.querySelector(".od-form-msg");
  const body = {};
  const reason = f.elements.reason.value.trim();
  if (NEEDS_REASON.has(act) && !reason) {
    setMsg(msg, t("ord_reason_needed"));
    f.elements.reason.focus();
    return;
  }
  if (reason) body.reason = reason;
  if (act === "assign") {
    const picked = f.querySelector('input[name="staff_id"]:checked');
    if (!picked) { setMsg(msg, t("ord_pick_staff")); return; }
    body.staff_id = Number(picked.value);
  }
  if (act === "approve_minutes") body.minutes = Number(f.elements.minutes.value);
  const btn = f.querySelector(".od-confirm");
  btn.disabled = true;
  const url = act === "approve_minutes" ? `/api/v1/orders/${id}/approved-minutes` : `/api/v1/orders/${id}/${act}`;
  const r = await X.api("POST", url, body);
  btn.disabled = false;
  if (!r.ok) {
    const fields = (r.body && r.body.fields) || {};
    setMsg(msg, bi(r.body.message || Object.values(fields)[0] || X.errorText(r)));
    return;
  }
  closeAction();
  setMsg(detailDlg.querySelector(".dlg-foot .dlg-msg"), `${t("con_saved")}: ${t(`ord_act_${act}`)}`, true);
  if (act !== "approve_minutes") upsert(r.body);  // that answer is the approval, not the order
  await loadDetail(id);
}

// ---------- start ----------

export function initOrders(helpers) {
  X = helpers;
  t = X.t;
  h = X.h;
  board = document.getElementById("orders");
  tbody = board.querySelector("tbody");
  emptyEl = document.getElementById("orders-empty");
  countsEl = document.getElementById("orders-counts");
  filterBar = document.getElementById("order-filters");
  newDlg = document.getElementById("order-dialog");
  form = document.getElementById("order-form");
  detailDlg = document.getElementById("order-detail");

  filterBar.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-filter]");
    if (b && FILTERS.includes(b.dataset.filter)) setFilter(b.dataset.filter);
  });
  const picker = document.getElementById("order-state");
  picker.addEventListener("change", () => {
    st.state = PICKABLE.includes(picker.value) ? picker.value : "";
    redraw();
  });
  tbody.addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr.order-row");
    if (!tr) return;
    const b = ev.target.closest("button[data-open]");
    openDetail(Number(tr.dataset.orderId), { assign: Boolean(b && b.dataset.open === "assign") });
  });
  const newBtn = document.getElementById("new-order");
  if (newBtn) newBtn.addEventListener("click", () => openNewOrder(null, null));

  for (const dlg of [newDlg, detailDlg]) {
    dlg.addEventListener("click", (ev) => { if (ev.target.closest("[data-dismiss]")) dlg.close(); });
  }
  detailDlg.addEventListener("close", () => {
    st.detailId = null; st.detail = null; st.action = null; st.candidates = null;
    clearTimeout(st.detailTimer);
  });
  form.addEventListener("submit", submitNew);
  form.elements.elder_q.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchElders, SEARCH_DELAY_MS);
  });
  form.elements.elder_q.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); clearTimeout(searchTimer); searchElders(); }
  });
  form.querySelector(".elder-results").addEventListener("click", (ev) => {
    const b = ev.target.closest("button.elder-hit");
    if (!b) return;
    st.pick.elder = st.found.get(b.dataset.elderId) || null;
    fieldError("elder_id", "");
    showElder();
    form.elements.item_q.focus();
  });
  form.querySelector(".ep-change").addEventListener("click", () => {
    st.pick = { elder: null, callId: null };
    showElder();
    form.elements.elder_q.focus();
  });
  form.elements.item_q.addEventListener("input", renderItems);
  form.elements.item_q.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault();  // Enter picks the only (or first) match instead of submitting
    const first = form.querySelector('input[name="item_code"]');
    if (first) { first.checked = true; first.focus(); fieldError("item_code", ""); }
  });
  form.querySelector(".item-list").addEventListener("change", () => { fieldError("item_code", ""); showSubsidy(); });
  const day = form.elements.day;
  day.min = today();
  form.elements.valid_from.min = today();
  form.querySelector(".kind").addEventListener("change", () => { clearErrors(); showKind(); });
  form.addEventListener("input", () => {  // a changed form after a plan was made may be sent again
    const submit = form.querySelector("button[type=submit]");
    if (submit.disabled && isPlan() && newDlg.querySelector(".dlg-msg").classList.contains("ok")) {
      submit.disabled = false;
    }
  });
  const planBox = detailDlg.querySelector(".od-plan");
  planBox.querySelector(".od-plan-stop").addEventListener("click", () => confirmStop(true));
  planBox.querySelector(".od-plan-no").addEventListener("click", () => confirmStop(false));
  planBox.querySelector(".od-plan-yes").addEventListener("click", stopPlan);
  detailDlg.querySelector(".od-actions").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-act]");
    if (b) startAction(b.dataset.act);
  });
  const actForm = detailDlg.querySelector(".od-form");
  actForm.addEventListener("submit", submitAction);
  actForm.addEventListener("change", () => setMsg(actForm.querySelector(".od-form-msg"), ""));
  actForm.querySelector(".od-cancel").addEventListener("click", closeAction);
  redraw();
}
