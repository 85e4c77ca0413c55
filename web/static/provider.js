// The provider side's page. Staff (phone): go on shift and share the location, get offers live
// from /ws/console with a sound and a countdown, accept in one tap, navigate, travel, check in at
// the elder's home (refused beyond the radius, with the distance), check out with notes; today's
// and earlier jobs. Provider admins: their staff (shift, load, last location) and their
// organisation's jobs, live. Plain ES module, no framework; config comes from a JSON data block.

import { errorText as errorTextOf, h, liveChannel, makeApi, parseTime, phone, serverClock } from "./common.js";
import { alertSound } from "./sound.js";

const root = document.getElementById("provider");
const cfg = JSON.parse(document.getElementById("provider-config").textContent);
const S = cfg.strings;
const csrf = root.dataset.csrf;
const en = cfg.lang === "en";
const locale = en ? "en-GB" : "zh-CN";
const ASSIGNED = new Set(["accepted", "en_route", "on_site"]);
const PING_MS = 25_000;
const REMIND_MS = 15_000;

const t = (key) => (key in S ? S[key] : key);

// ---------- small helpers ----------

const timeFmt = new Intl.DateTimeFormat(locale, { timeZone: cfg.tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const secFmt = new Intl.DateTimeFormat(locale, {
  timeZone: cfg.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const dayFmt = new Intl.DateTimeFormat(locale, { timeZone: cfg.tz, month: "2-digit", day: "2-digit" });
const dayKey = new Intl.DateTimeFormat("en-CA", { timeZone: cfg.tz, year: "numeric", month: "2-digit", day: "2-digit" });

function now() { return serverClock.now(); }
function hm(value) { const d = parseTime(value); return d ? timeFmt.format(d) : "—"; }
function hms(value) { const d = value instanceof Date ? value : parseTime(value); return d ? secFmt.format(d) : "—"; }
function sameDay(a, b) { return dayKey.format(a) === dayKey.format(b); }
function when(value) {
  // a time today as 10:05; another day as 03-14 10:05
  const d = parseTime(value);
  if (!d) return "—";
  return sameDay(d, new Date(now())) ? timeFmt.format(d) : `${dayFmt.format(d)} ${timeFmt.format(d)}`;
}

const sp = " ";
function distanceText(m) {
  if (m === null || m === undefined) return "—";
  return m >= 1000 ? `${(m / 1000).toFixed(1)}${sp}${t("pv_km")}` : `${Math.round(m)}${sp}${t("pv_m")}`;
}
function minutes(n) { return `${n}${sp}${t("pv_minutes")}`; }
function itemName(o) { return (o.item && (en ? o.item.name_en || o.item.name : o.item.name)) || (o.item && o.item.code) || "—"; }
function stateLabel(o) { return en ? o.state_label_en || o.state : o.state_label || o.state; }
function windowText(o) {
  if (!o.window_start) return t("pv_asap");
  const a = parseTime(o.window_start), b = parseTime(o.window_end);
  const day = sameDay(a, new Date(now())) ? "" : `${dayFmt.format(a)} `;
  return b ? `${day}${timeFmt.format(a)}–${timeFmt.format(b)}` : `${day}${timeFmt.format(a)}`;
}

const api = makeApi(csrf, t("pv_failed"));
const errorText = (r) => errorTextOf(r, t("pv_failed"));

// ---------- the notice (last error or success) ----------

const toast = document.getElementById("toast");
const noticeEl = document.getElementById("notice");
let noticeTimer = null;

function notice(text, kind = "error") {
  clearTimeout(noticeTimer);
  noticeEl.textContent = text;
  toast.dataset.kind = kind;
  toast.hidden = false;
  toast.classList.remove("fade");
  // successes fade after a while; errors stay until tapped away (the text stays in the DOM)
  if (kind === "ok") noticeTimer = setTimeout(() => { toast.hidden = true; }, 5000);
}
toast.addEventListener("click", () => { clearTimeout(noticeTimer); toast.hidden = true; });

// ---------- the live channel ----------

const connEl = document.getElementById("conn");
const offlineEl = document.getElementById("offline");

function setConn(status) {
  connEl.className = `conn ${status}`;
  connEl.textContent = t(`pv_${status}`);
  offlineEl.hidden = status !== "reconnecting";
}

function startLive(handlers) {
  const channel = liveChannel({
    onStatus: setConn,
    onResumed: handlers.resumed,  // a replay carries events, not the state: fetch it too
    pingMs: PING_MS,
    onMessage: (msg) => {
      if (msg.type === "snapshot") handlers.snapshot(msg.data || {});
      else if (msg.type.startsWith("order.")) handlers.order(msg.type.slice(6), msg.data || {});
    },
  });
  // reconnect at once when the phone comes back online or the page is shown again
  window.addEventListener("online", () => channel.reconnectNow());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") channel.reconnectNow();
  });
}

// ---------- tabs ----------

function tabs(container, onPick) {
  const buttons = [...container.querySelectorAll("[role=tab]")];
  container.addEventListener("click", (ev) => {
    const btn = ev.target.closest("[role=tab]");
    if (!btn) return;
    for (const b of buttons) b.setAttribute("aria-selected", b === btn ? "true" : "false");
    const panel = document.getElementById(btn.getAttribute("aria-controls"));
    if (panel) panel.setAttribute("aria-labelledby", btn.id);
    onPick(btn.dataset.when);
  });
}

// ---------- a finished (or any) order as a compact card ----------

function summaryCard(o, { withStaff = false } = {}) {
  const times = [];
  if (o.accepted_at) times.push(`${t("pv_accepted_at")} ${when(o.accepted_at)}`);
  if (o.en_route_at && !o.checked_in_at) times.push(`${t("pv_en_route_at")} ${hm(o.en_route_at)}`);
  if (o.checked_in_at) times.push(`${t("pv_checked_in_at")} ${hm(o.checked_in_at)}`);
  if (o.checked_out_at) times.push(`${t("pv_checked_out_at")} ${hm(o.checked_out_at)}`);
  if (o.duration_s !== null && o.duration_s !== undefined) {
    times.push(`${t("pv_duration")} ${minutes(Math.max(1, Math.round(o.duration_s / 60)))}`);
  }
  const note = o.checkout_note || (o.state === "failed" || o.state === "cancelled" ? o.reason : "");
  const e = o.elder || {};
  return h("article", { class: `hist state-${o.state}`, "data-order-id": o.id, "data-state": o.state },
    h("div", { class: "hist-top" },
      h("span", { class: "item-name" }, itemName(o)),
      h("span", { class: `state-badge s-${o.state}` }, stateLabel(o)),
      h("span", { class: "hist-when" }, when(o.checked_out_at || o.accepted_at || o.created_at))),
    h("p", { class: "hist-who" }, h("b", {}, e.name || "—"), " ", h("span", { class: "muted" }, e.address || ""),
      withStaff && o.staff ? h("span", { class: "hist-staff" }, `${t("pv_assignee")}: ${o.staff.name}`) : null),
    times.length ? h("p", { class: "hist-times" }, times.join(" · ")) : null,
    note ? h("p", { class: "hist-note" }, `“${note}”`) : null);
}

function listInto(container, items, emptyText, render) {
  container.replaceChildren(...(items.length ? items.map(render) : [h("p", { class: "pv-empty" }, emptyText)]));
}

// =====================================================================================
// the staff member's phone page
// =====================================================================================

function staffPage() {
  const me = cfg.staff;
  const st = {
    onShift: Boolean(me.on_shift),
    offers: new Map(),      // offer id -> {offer, el, total}
    goneOffers: new Set(),  // offer ids answered, expired or withdrawn: never shown again
    jobs: new Map(),        // order id -> card
    jobEls: new Map(),      // order id -> <article>
    goneJobs: new Map(),    // order id -> updated_at (ms) when it left my hands
    jobMsgs: new Map(),     // order id -> {text, kind} shown on the card
    notes: new Map(),       // order id -> check-out note being typed
    busy: new Set(),        // order ids with a request under way
    historyWhen: "today",
    watchId: null,
    lastPos: null,
    lastSentAt: 0,
    sending: false,
    reasonFor: null,        // {id, act} of the open reason dialog
    snapshots: 0,
    sentText: "",
  };

  const shiftBtn = document.getElementById("shift-toggle");
  const locEl = document.getElementById("loc-status");
  const hint = document.getElementById("sound-hint");
  const offersEl = document.getElementById("offers");
  const offersEmpty = document.getElementById("offers-empty");
  const offersCount = document.getElementById("offers-count");
  const jobsEl = document.getElementById("jobs");
  const jobsEmpty = document.getElementById("jobs-empty");
  const jobsCount = document.getElementById("jobs-count");
  const historyEl = document.getElementById("history");
  const reasonDlg = document.getElementById("reason-dialog");
  const reasonForm = document.getElementById("reason-form");
  const baseTitle = document.title;

  // ---------- sound and vibration ----------

  // a brighter, softer chime than the console's alarm siren
  const { beep } = alertSound({ hint, root, notes: [988, 1319, 988, 1319], wave: "sine",
                                step: 0.18, peak: 0.35 });

  function alertNew() {
    beep();
    // browsers refuse (and complain about) vibration before the person has touched the page
    const active = !navigator.userActivation || navigator.userActivation.hasBeenActive;
    if (active && typeof navigator.vibrate === "function") navigator.vibrate([300, 120, 300]);
  }

  // ---------- shift and location ----------

  function showShift() {
    shiftBtn.setAttribute("aria-pressed", st.onShift ? "true" : "false");
    shiftBtn.querySelector(".shift-state").textContent = st.onShift ? t("pv_on_shift") : t("pv_off_shift");
    shiftBtn.querySelector(".shift-help").textContent = st.onShift ? t("pv_tap_off") : t("pv_tap_on");
    offersEmpty.textContent = st.onShift ? t("pv_no_offers") : t("pv_no_offers_off");
  }

  function setLoc(text, kind) {
    locEl.textContent = text;
    locEl.className = `loc ${kind || ""}`;
    locEl.dataset.state = kind || "";
  }

  async function toggleShift() {
    const want = !st.onShift;
    shiftBtn.disabled = true;
    const r = await api("POST", "/api/v1/me/shift", { on_shift: want });
    shiftBtn.disabled = false;
    if (!r.ok) { notice(errorText(r)); return; }
    st.onShift = Boolean(r.body.on_shift);
    showShift();
    if (st.onShift) startLocation(); else stopLocation();
    notice(st.onShift ? t("pv_shift_on_ok") : t("pv_shift_off_ok"), "ok");
  }

  function startLocation() {
    if (!("geolocation" in navigator)) { setLoc(t("pv_loc_unsupported"), "bad"); return; }
    if (st.watchId !== null) return;
    setLoc(t("pv_loc_wait"), "wait");
    st.lastSentAt = 0;
    watch();
  }

  function watch() {
    st.watchId = navigator.geolocation.watchPosition(gotPosition, positionError,
      { enableHighAccuracy: true, maximumAge: 15_000, timeout: 30_000 });
  }

  function stopLocation() {
    if (st.watchId !== null) navigator.geolocation.clearWatch(st.watchId);
    st.watchId = null;
    st.lastPos = null;
    setLoc(t("pv_loc_off"), "");
  }

  function gotPosition(pos) {
    st.lastPos = pos;
    if (locEl.dataset.state === "bad" && st.sentText) setLoc(st.sentText, "sent");  // it recovered
    if (Date.now() - st.lastSentAt >= cfg.location_every_s * 1000) sendLocation();
  }

  function positionError(err) {
    if (!st.onShift) return;
    // phones lose the fix now and then (code 2 unavailable, 3 timeout): a recent fix still counts
    const recent = st.lastPos && Date.now() - st.lastPos.timestamp < 60_000;
    if (err && err.code !== 1 && recent) return;
    setLoc(err && err.code === 1 ? t("pv_loc_denied") : t("pv_loc_error"), "bad");
  }

  async function sendLocation() {
    if (!st.onShift || !st.lastPos || st.sending) return;
    st.sending = true;
    st.lastSentAt = Date.now();
    const c = st.lastPos.coords;
    const body = { lat: c.latitude, lon: c.longitude };
    if (Number.isFinite(c.accuracy)) body.accuracy_m = Math.round(c.accuracy);
    const r = await api("POST", "/api/v1/me/location", body);
    st.sending = false;
    if (!st.onShift) return;
    if (r.ok) {
      st.sentText = `${t("pv_loc_sent")} ${hms(new Date(now()))}`;
      setLoc(st.sentText, "sent");
    }
    else { setLoc(`${t("pv_loc_failed")}: ${errorText(r)}`, "bad"); st.lastSentAt = 0; }
  }

  // a location counts for matching for a few minutes: re-send the last one every 30 s even when
  // the phone does not move (watchPosition stays quiet then)
  setInterval(() => {
    if (st.onShift && st.lastPos && Date.now() - st.lastSentAt >= cfg.location_every_s * 1000) sendLocation();
  }, 5000);

  async function currentPosition() {
    // a fresh fix for check-in. Chromium does not answer a one-shot request for a fresh fix while
    // a watch is running (it waits for the next change), so the watch pauses meanwhile.
    if (!("geolocation" in navigator)) throw new Error("unsupported");
    const watching = st.watchId !== null;
    if (watching) { navigator.geolocation.clearWatch(st.watchId); st.watchId = null; }
    try {
      return await new Promise((resolve, reject) => {
        navigator.geolocation.getCurrentPosition(resolve, reject,
          { enableHighAccuracy: true, maximumAge: 0, timeout: 20_000 });
      });
    } finally {
      if (watching && st.onShift && st.watchId === null) watch();
    }
  }

  // ---------- offers ----------

  function remaining(o) {
    const end = parseTime(o.expires_at);
    return end ? Math.ceil((end.getTime() - now()) / 1000) : 0;
  }

  function addOffer(o, { alert }) {
    if (st.goneOffers.has(o.offer_id) || st.offers.has(o.offer_id)) return false;
    if (remaining(o) <= 0) return false;
    const entry = { offer: o, el: null, total: Math.max(cfg.offer_s || 60, remaining(o)) };
    entry.el = renderOffer(o);
    st.offers.set(o.offer_id, entry);
    offersEl.prepend(entry.el);
    tickOffer(entry);
    if (alert) {
      entry.el.classList.add("flash");
      alertNew();
    }
    offersSummary();
    return true;
  }

  function removeOffer(offerId) {
    st.goneOffers.add(offerId);
    const entry = st.offers.get(offerId);
    if (!entry) return;
    entry.el.remove();
    st.offers.delete(offerId);
    offersSummary();
  }

  function dropOffersFor(orderId) {
    let n = 0;
    for (const [id, entry] of st.offers) {
      if (entry.offer.order.id === orderId) { removeOffer(id); n += 1; }
    }
    return n;
  }

  function setOffers(items, { alert }) {
    const fresh = new Set(items.map((o) => o.offer_id));
    for (const id of [...st.offers.keys()]) if (!fresh.has(id)) removeOffer(id);
    const added = [...items].reverse().filter((o) => addOffer(o, { alert: false }));
    if (alert && added.length) {
      for (const o of added) st.offers.get(o.offer_id).el.classList.add("flash");
      alertNew();
    }
  }

  let offersSeq = 0;
  async function loadOffers({ alert }) {
    const ask = ++offersSeq;
    const r = await api("GET", "/api/v1/me/offers");
    if (r.ok && ask === offersSeq) setOffers(r.body.items || [], { alert });  // the newest answer only
  }

  function offersSummary() {
    const n = st.offers.size;
    offersCount.textContent = n ? String(n) : "";
    offersEmpty.hidden = n > 0;
    document.title = n ? `(${n}) ${t("pv_new_offer")} · ${baseTitle}` : baseTitle;
  }

  function renderOffer(o) {
    const order = o.order || {};
    const e = order.elder || {};
    const urgent = order.kind === "emergency_check";
    const facts = h("dl", { class: "facts-row" },
      h("div", {}, h("dt", {}, t("pv_distance")), h("dd", { class: "dist" }, distanceText(o.distance_m))),
      h("div", {}, h("dt", {}, t("pv_window")), h("dd", {}, windowText(order))),
      order.item && order.item.duration_min
        ? h("div", {}, h("dt", {}, t("pv_duration")), h("dd", {}, minutes(order.item.duration_min))) : null);
    return h("article", { class: `offer${urgent ? " urgent" : ""}`, "data-offer-id": o.offer_id,
      "data-order-id": order.id, "aria-label": `${t("pv_new_offer")} ${itemName(order)} ${e.name || ""}` },
    h("div", { class: "offer-top" },
      urgent ? h("span", { class: "badge-urgent" }, t("pv_emergency")) : null,
      h("span", { class: "item-name" }, itemName(order)),
      h("span", { class: "countdown", role: "timer" }, h("b", {}, "—"), h("small", {}, t("pv_seconds_left")))),
    h("div", { class: "bar", "aria-hidden": "true" }, h("i", {})),
    h("h3", { class: "elder-name" }, e.name || "—"),
    h("p", { class: "addr" }, e.address || "—"),
    facts,
    order.note ? h("p", { class: "note" }, h("span", { class: "k" }, t("pv_note")), order.note) : null,
    h("div", { class: "pv-btns" },
      h("button", { type: "button", class: "ghost", "data-act": "decline" }, t("pv_decline")),
      h("button", { type: "button", class: "primary big", "data-act": "accept" }, t("pv_accept"))));
  }

  function tickOffer(entry) {
    const left = remaining(entry.offer);
    if (left <= 0) { removeOffer(entry.offer.offer_id); return; }
    entry.el.querySelector(".countdown b").textContent = String(left);
    entry.el.querySelector(".bar i").style.width = `${Math.min(100, (left / entry.total) * 100)}%`;
    entry.el.classList.toggle("ending", left <= 10);
  }

  for (const box of [offersEl, jobsEl]) {
    box.addEventListener("animationend", (ev) => {
      if (ev.animationName === "pv-flash") ev.target.classList.remove("flash");
    });
  }

  offersEl.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-act]");
    if (!btn) return;
    const card = btn.closest(".offer");
    const offerId = Number(card.dataset.offerId);
    const accept = btn.dataset.act === "accept";
    for (const b of card.querySelectorAll("button")) b.disabled = true;
    const r = await api("POST", `/api/v1/offers/${offerId}/${accept ? "accept" : "decline"}`, {});
    if (r.ok) {
      removeOffer(offerId);
      if (accept) {
        upsertJob(r.body, { flash: true });
        notice(`${t("pv_accepted_ok")} · ${itemName(r.body)} · ${r.body.elder ? r.body.elder.name : ""}`, "ok");
      } else {
        notice(t("pv_declined_ok"), "ok");
      }
      return;
    }
    notice(errorText(r));
    if (r.status === 409 || r.status === 404) removeOffer(offerId);  // taken, expired or withdrawn
    else for (const b of card.querySelectorAll("button")) b.disabled = false;
  });

  // ---------- jobs in hand ----------

  function stamp(card) { const d = parseTime(card.updated_at); return d ? d.getTime() : 0; }

  function upsertJob(card, { flash = false } = {}) {
    if (!card || card.id === undefined) return;
    const gone = st.goneJobs.get(card.id);
    if (gone !== undefined && stamp(card) <= gone) return;  // a late event of a job that left
    const old = st.jobs.get(card.id);
    if (old && stamp(card) < stamp(old)) return;  // never go back
    if (!ASSIGNED.has(card.state) || !card.staff || card.staff.id !== me.id) {
      if (old) removeJob(card.id, card);
      return;
    }
    st.goneJobs.delete(card.id);
    st.jobs.set(card.id, card);
    renderJob(card);
    const el = st.jobEls.get(card.id);
    if (flash && el) el.classList.add("flash");
    dropOffersFor(card.id);
    jobsSummary();
  }

  function removeJob(id, card) {
    if (card) st.goneJobs.set(id, stamp(card));  // later events older than this are stale
    st.jobs.delete(id);
    st.jobMsgs.delete(id);
    st.notes.delete(id);
    st.busy.delete(id);
    const el = st.jobEls.get(id);
    if (el) el.remove();
    st.jobEls.delete(id);
    jobsSummary();
  }

  function setJobs(cards) {
    const fresh = new Set(cards.map((c) => c.id));
    for (const id of [...st.jobs.keys()]) if (!fresh.has(id)) removeJob(id);
    for (const c of cards) {
      st.goneJobs.delete(c.id);  // the server's list is the truth
      upsertJob(c);
    }
    order();
  }

  let jobsSeq = 0;
  async function loadJobs() {
    const ask = ++jobsSeq;
    const r = await api("GET", "/api/v1/me/jobs?when=active");
    if (r.ok && ask === jobsSeq) setJobs(r.body.items || []);
  }

  function order() {
    const sorted = [...st.jobs.values()].sort((a, b) => a.id - b.id);
    sorted.forEach((c, i) => {
      const el = st.jobEls.get(c.id);
      if (el && jobsEl.children[i] !== el) jobsEl.insertBefore(el, jobsEl.children[i] || null);
    });
  }

  function jobsSummary() {
    jobsCount.textContent = st.jobs.size ? `${st.jobs.size}/${me.capacity}` : "";
    jobsEmpty.hidden = st.jobs.size > 0;
  }

  function geoLink(e) {
    const loc = e.location;
    if (!loc || loc.lat === null || loc.lat === undefined) return h("span", { class: "muted" }, t("pv_no_location"));
    const ll = `${Number(loc.lat).toFixed(6)},${Number(loc.lon).toFixed(6)}`;
    return h("a", { class: "nav-link", href: `geo:${ll}?q=${ll}(${encodeURIComponent(e.name || "")})` }, t("pv_navigate"));
  }

  function renderJob(c) {
    let el = st.jobEls.get(c.id);
    if (!el) {
      el = h("article", {});
      st.jobEls.set(c.id, el);
      jobsEl.append(el);
      order();
    }
    const flashing = el.classList.contains("flash");
    el.className = `job state-${c.state}${flashing ? " flash" : ""}`;
    el.dataset.orderId = c.id;
    el.dataset.state = c.state;
    const e = c.elder || {};
    const busy = st.busy.has(c.id);
    const btn = (act, label, cls) => h("button", { type: "button", class: cls || "", "data-act": act, disabled: busy }, label);

    const times = [];
    if (c.accepted_at) times.push(`${t("pv_accepted_at")} ${hm(c.accepted_at)}`);
    if (c.en_route_at) times.push(`${t("pv_en_route_at")} ${hm(c.en_route_at)}`);
    if (c.checked_in_at) {
      const d = c.checkin_distance_m !== null && c.checkin_distance_m !== undefined ? ` (${distanceText(c.checkin_distance_m)})` : "";
      times.push(`${t("pv_checked_in_at")} ${hm(c.checked_in_at)}${d}`);
    }

    const main = [];
    const extra = [];
    if (c.state === "accepted") {
      main.push(btn("travel", t("pv_travel"), "second big"), btn("check_in", t("pv_check_in"), "primary big"));
    } else if (c.state === "en_route") {
      main.push(btn("check_in", t("pv_check_in"), "primary big wide"));
    }
    let noteBox = null;
    if (c.state === "on_site") {
      const area = h("textarea", { class: "checkout-note", id: `note-${c.id}`, rows: 3, maxlength: 1000,
        placeholder: t("pv_checkout_ph"), name: "note" });
      area.value = st.notes.get(c.id) || "";
      area.disabled = busy;
      noteBox = h("label", { class: "note-box", for: `note-${c.id}` }, h("span", {}, t("pv_checkout_note")), area);
      main.push(btn("check_out", t("pv_check_out"), "primary big wide"));
    }
    if (c.state === "accepted" || c.state === "en_route") extra.push(btn("release", t("pv_release"), "ghost small"));
    extra.push(btn("fail", t("pv_fail"), "ghost small"));

    const msg = st.jobMsgs.get(c.id);
    el.replaceChildren(...[
      h("div", { class: "job-top" },
        c.kind === "emergency_check" ? h("span", { class: "badge-urgent" }, t("pv_emergency")) : null,
        h("span", { class: "item-name" }, itemName(c)),
        h("span", { class: `state-badge s-${c.state}` }, stateLabel(c))),
      h("h3", { class: "elder-name" }, e.name || "—"),
      h("p", { class: "addr" }, e.address || "—"),
      h("div", { class: "links" },
        geoLink(e),
        ...(e.phones || []).map((p) => h("a", { class: "tel-link", href: `tel:${p}` }, `${t("pv_call")} ${phone(p)}`))),
      h("dl", { class: "facts-row" },
        h("div", {}, h("dt", {}, t("pv_window")), h("dd", {}, windowText(c))),
        c.item && c.item.duration_min ? h("div", {}, h("dt", {}, t("pv_duration")), h("dd", {}, minutes(c.item.duration_min))) : null),
      c.note ? h("p", { class: "note" }, h("span", { class: "k" }, t("pv_note")), c.note) : null,
      times.length ? h("p", { class: "times" }, times.join(" · ")) : null,
      msg ? h("p", { class: `job-msg ${msg.kind}`, role: "status" }, msg.text) : null,
      noteBox,
      main.length ? h("div", { class: "pv-btns" }, ...main) : null,
      h("div", { class: "pv-btns extra" }, ...extra),
    ].filter(Boolean));
  }

  jobsEl.addEventListener("input", (ev) => {
    const area = ev.target.closest("textarea.checkout-note");
    if (area) st.notes.set(Number(area.closest(".job").dataset.orderId), area.value);
  });

  jobsEl.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-act]");
    if (!btn || btn.disabled) return;
    const id = Number(btn.closest(".job").dataset.orderId);
    const act = btn.dataset.act;
    if (act === "release" || act === "fail") askReason(id, act);
    else step(id, act, {});
  });

  const OK_TEXT = { travel: "pv_travel_ok", check_in: "pv_check_in_ok", check_out: "pv_check_out_ok",
    release: "pv_release_ok", fail: "pv_fail_ok" };

  function setBusy(id, on) {
    if (on) st.busy.add(id); else st.busy.delete(id);
    const c = st.jobs.get(id);
    if (c) renderJob(c);
  }

  async function step(id, act, body) {
    if (st.busy.has(id)) return;
    if (act === "check_in") {
      st.jobMsgs.set(id, { text: t("pv_locating"), kind: "info" });
      setBusy(id, true);
      let pos = null;
      try { pos = await currentPosition(); } catch { pos = null; }
      if (!pos) {
        st.jobMsgs.set(id, { text: t("pv_need_location"), kind: "error" });
        setBusy(id, false);
        notice(t("pv_need_location"));
        return;
      }
      body.lat = pos.coords.latitude;
      body.lon = pos.coords.longitude;
    }
    if (act === "check_out") body.note = (st.notes.get(id) || "").trim();
    setBusy(id, true);
    const r = await api("POST", `/api/v1/jobs/${id}/${act}`, body);
    st.busy.delete(id);
    if (r.ok) {
      st.jobMsgs.delete(id);
      const c = r.body;
      let text = t(OK_TEXT[act]);
      if (act === "check_in" && c.checkin_distance_m !== null && c.checkin_distance_m !== undefined) {
        text += ` · ${t("pv_checkin_distance")} ${distanceText(c.checkin_distance_m)}`;
      }
      if (act === "check_out" && c.duration_s !== null && c.duration_s !== undefined) {
        text += ` · ${t("pv_duration")} ${minutes(Math.max(1, Math.round(c.duration_s / 60)))}`;
      }
      notice(text, "ok");
      if (ASSIGNED.has(c.state) && c.staff && c.staff.id === me.id) upsertJob(c);
      else { removeJob(id, c); loadHistory(); }
      return true;
    }
    const text = errorText(r);
    notice(text);
    if (r.status === 404 || (r.status === 409 && act !== "check_in")) {
      removeJob(id);
      loadJobs();
      loadHistory();
    } else {
      st.jobMsgs.set(id, { text, kind: "error" });
      const c = st.jobs.get(id);
      if (c) renderJob(c);
    }
    return false;
  }

  // ---------- release / fail: ask the reason ----------

  function askReason(id, act) {
    st.reasonFor = { id, act };
    document.getElementById("reason-title").textContent = `${t(`pv_${act}`)} · ${(st.jobs.get(id) || {}).elder?.name || ""}`;
    reasonForm.querySelector(".r-label").textContent = t(`pv_reason_${act}`);
    reasonForm.reset();
    reasonForm.querySelector(".r-msg").textContent = "";
    reasonDlg.showModal();
    reasonForm.elements.reason.focus();
  }

  reasonDlg.addEventListener("click", (ev) => {
    if (ev.target.closest("[data-dismiss]") || ev.target === reasonDlg) reasonDlg.close();
  });
  reasonDlg.addEventListener("close", () => { st.reasonFor = null; });

  reasonForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const what = st.reasonFor;
    if (!what) { reasonDlg.close(); return; }
    const reason = reasonForm.elements.reason.value.trim();
    const msg = reasonForm.querySelector(".r-msg");
    if (!reason) { msg.textContent = t("pv_reason_required"); reasonForm.elements.reason.focus(); return; }
    const submit = reasonForm.querySelector("button[type=submit]");
    submit.disabled = true;
    const ok = await step(what.id, what.act, { reason });
    submit.disabled = false;
    if (ok || !st.jobs.has(what.id)) reasonDlg.close();
    else msg.textContent = noticeEl.textContent;
  });

  // ---------- history ----------

  let historySeq = 0;

  async function loadHistory() {
    const ask = ++historySeq;
    const whenTab = st.historyWhen;
    const r = await api("GET", `/api/v1/me/jobs?when=${whenTab}`);
    if (ask !== historySeq) return;  // a newer request (or tab) won
    if (!r.ok) { listInto(historyEl, [], `${t("pv_load_failed")}: ${errorText(r)}`, () => null); return; }
    const items = (r.body.items || []).filter((o) => !ASSIGNED.has(o.state));
    listInto(historyEl, items, t(whenTab === "today" ? "pv_none_today" : "pv_none_past"), (o) => summaryCard(o));
  }

  tabs(document.querySelector(".pv-staff .tabs"), (w) => { st.historyWhen = w; loadHistory(); });

  // ---------- live ----------

  function onOrder(event, data) {
    const card = data.order;
    if (!card) return;
    const audience = data.audience || {};
    if (event === "offer") {
      if ((audience.staff || []).includes(me.id)) loadOffers({ alert: true });
      return;
    }
    const mine = card.staff && card.staff.id === me.id && ASSIGNED.has(card.state);
    if (card.state !== "offered" && dropOffersFor(card.id) && !mine) {
      // an offer still on my screen went elsewhere: say why it vanished
      const why = event === "cancel" ? "pv_cancelled" : event === "expire" ? "pv_expired"
        : ASSIGNED.has(card.state) ? "pv_offer_taken" : "pv_offer_withdrawn";
      notice(`${t(why)} · ${itemName(card)} · ${card.elder ? card.elder.name : ""}`, "info");
    }
    if (mine) {
      const isNew = !st.jobs.has(card.id);
      upsertJob(card, { flash: isNew });
      if (isNew && event === "assign" && st.jobs.has(card.id)) {
        alertNew();
        notice(`${t("pv_assigned")} · ${itemName(card)} · ${card.elder ? card.elder.name : ""}`, "ok");
      }
      return;
    }
    if (st.jobs.has(card.id)) {
      const had = st.jobs.get(card.id);
      if (stamp(card) < stamp(had)) return;
      removeJob(card.id, card);
      notice(event === "cancel" ? `${t("pv_cancelled")} · ${itemName(card)} · ${card.elder ? card.elder.name : ""}`
        : `${t("pv_taken_away")} · ${stateLabel(card)}`);
      loadHistory();
    }
  }

  const handlers = {
    snapshot(data) {
      offersSeq += 1;  // answers to requests sent before the snapshot are older than it
      jobsSeq += 1;
      // offers waiting when the page opens are not news; those a later snapshot brings are
      setOffers(data.offers || [], { alert: st.snapshots > 0 });
      setJobs(data.jobs || []);
      st.snapshots += 1;
    },
    order: onOrder,
    resumed() { loadOffers({ alert: true }); loadJobs(); loadHistory(); },
  };

  // ---------- start ----------

  shiftBtn.addEventListener("click", toggleShift);
  showShift();
  offersSummary();
  jobsSummary();
  if (st.onShift) startLocation();
  startLive(handlers);
  loadHistory();
  setInterval(() => { for (const entry of [...st.offers.values()]) tickOffer(entry); }, 1000);
  setInterval(() => { if (st.offers.size && st.onShift) beep(); }, REMIND_MS);
}

// =====================================================================================
// the provider admin's view
// =====================================================================================

function adminPage() {
  const tbody = document.querySelector("#staff-table tbody");
  const counts = document.getElementById("staff-counts");
  const jobsEl = document.getElementById("org-jobs");
  const st = { when: "active", flash: new Set(), staffSeq: 0, jobsSeq: 0, timer: null };

  function located(loc) {
    if (!loc || !loc.at) return h("span", { class: "muted" }, "—");
    const at = parseTime(loc.at);
    const stale = !at || now() - at.getTime() > cfg.location_fresh_s * 1000;
    return h("span", { class: stale ? "loc-stale" : "loc-fresh", title: `${loc.lat}, ${loc.lon}` },
      when(loc.at), stale ? h("small", {}, ` ${t("pv_stale")}`) : null);
  }

  async function loadStaff() {
    const ask = ++st.staffSeq;
    const r = await api("GET", "/api/v1/provider/staff");
    if (ask !== st.staffSeq) return;
    if (!r.ok) {
      tbody.replaceChildren(h("tr", {}, h("td", { colSpan: 5, class: "error" }, errorText(r))));
      return;
    }
    const items = r.body.items || [];
    const on = items.filter((s) => s.on_shift && s.active).length;
    counts.textContent = t("pv_staff_counts").replace("{on}", on).replace("{all}", items.filter((s) => s.active).length);
    if (!items.length) {
      tbody.replaceChildren(h("tr", {}, h("td", { colSpan: 5, class: "muted" }, t("pv_no_staff"))));
      return;
    }
    tbody.replaceChildren(...items.map((s) => h("tr", {
      class: `${s.on_shift ? "on" : "off"}${s.active ? "" : " inactive"}`, "data-staff-id": s.id },
    h("td", {}, h("b", {}, s.name), s.active ? null : h("span", { class: "tag" }, t("pv_inactive")),
      s.phone ? h("a", { class: "tel-small", href: `tel:${s.phone}` }, phone(s.phone)) : null),
    h("td", {}, h("span", { class: `dot ${s.on_shift ? "on" : "off"}` }, s.on_shift ? t("pv_staff_on") : t("pv_staff_off"))),
    h("td", { class: `num${s.load >= s.capacity ? " full" : ""}` }, `${s.load}/${s.capacity}`),
    h("td", {}, located(s.location)),
    h("td", {}, s.last_assigned_at ? when(s.last_assigned_at) : "—"))));
  }

  async function loadJobs() {
    const ask = ++st.jobsSeq;
    const whenTab = st.when;
    const r = await api("GET", `/api/v1/provider/jobs?when=${whenTab}`);
    if (ask !== st.jobsSeq) return;
    if (!r.ok) { listInto(jobsEl, [], `${t("pv_load_failed")}: ${errorText(r)}`, () => null); return; }
    const empty = { active: "pv_none_active", today: "pv_none_today", past: "pv_none_past" }[whenTab];
    listInto(jobsEl, r.body.items || [], t(empty), (o) => {
      const el = summaryCard(o, { withStaff: true });
      if (st.flash.has(o.id)) el.classList.add("flash");
      return el;
    });
    st.flash.clear();
  }

  function soon() {
    clearTimeout(st.timer);
    st.timer = setTimeout(() => { loadStaff(); loadJobs(); }, 300);
  }

  tabs(document.querySelector(".pv-admin .tabs"), (w) => { st.when = w; loadJobs(); });
  jobsEl.addEventListener("animationend", (ev) => {
    if (ev.animationName === "pv-flash") ev.target.classList.remove("flash");
  });

  startLive({
    snapshot() { loadStaff(); loadJobs(); },
    order(event, data) { if (data.order) st.flash.add(data.order.id); soon(); },
    resumed() { soon(); },
  });
  setInterval(loadStaff, 30_000);  // shifts and locations change without an order event
}

if (cfg.view === "staff") staffPage(); else adminPage();
