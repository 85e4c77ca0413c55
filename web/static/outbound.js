// The console's outbound care list (主动关爱外呼): the operator's next elder to call, with the
// script, phones and contacts, and the outcome form; the rest of the list beside it. Data from
// GET /api/v1/care/worklist; outcomes go to POST /api/v1/care/tasks/{id}/outcome. The list
// refreshes on live events that concern it (window "anxin-live"), every minute, and when a
// retry falls due.

import { openProfile } from "./profile.js";
import { consolePanel, h, parseTime, phone, serverClock } from "./common.js";

const panel = document.getElementById("outbound");
const cfgEl = document.getElementById("console-config");
const REFRESH_MS = 60_000;

if (panel && cfgEl) init();

function init() {
  const { cfg, S, t, api, errorText, when, fill } = consolePanel();

  const el = {
    counts: document.getElementById("ob-counts"),
    empty: document.getElementById("ob-empty"),
    msg: document.getElementById("ob-msg"),
    card: document.getElementById("ob-current"),
    list: document.getElementById("ob-list"),
    form: document.getElementById("ob-form"),
  };
  const st = { items: [], current: null, busy: false, timer: null, retryTimer: null, pending: null };

  // the item picker for "needs a service": the catalogue the console already has
  const itemSelect = el.form.elements.item_code;
  itemSelect.replaceChildren(h("option", { value: "" }, "—"),
    ...(cfg.items || []).map((i) => h("option", { value: i.code },
      `${i.code} ${cfg.lang === "en" && i.name_en ? i.name_en : i.name}`)));

  const isDue = (item) => !item.next_attempt_at || (parseTime(item.next_attempt_at) || 0) <= serverClock.now();
  const isMine = (item) => item.assigned_to === cfg.user.id;

  function label(prefix, code) {
    const key = `${prefix}${code}`;
    return key in S ? S[key] : code;
  }

  function stepText(item) {
    // the ladder's steps: "call" (again after an unanswered try), then "contacts"
    const bits = [label("care_s_", item.step === "call" && item.attempts ? "retry" : item.step)];
    if (item.attempts) bits.push(fill("care_attempts_n", { n: item.attempts }));
    return bits.join(" · ");
  }

  function scriptText(item) {
    const name = item.elder.name;
    const key = item.step === "contacts" ? "care_script_contacts" : `care_script_${item.reason}`;
    return (key in S ? S[key] : t("care_script_monthly")).replaceAll("{name}", name)
      .replaceAll("{operator}", cfg.user.display_name);
  }

  function render() {
    const items = st.items;
    el.empty.hidden = items.length > 0;
    if (!st.current || !items.some((i) => i.task_id === st.current)) {
      const next = items.find((i) => isMine(i) && isDue(i)) || items.find(isDue);
      st.current = next ? next.task_id : null;
    }
    const current = items.find((i) => i.task_id === st.current) || null;
    renderCard(current);
    el.list.replaceChildren(...items.filter((i) => i !== current).map((i) => h("li", {
      class: `ob-row${isDue(i) ? "" : " later"}${isMine(i) ? " mine" : ""}`, "data-task": i.task_id },
      h("button", { type: "button", class: "ob-pick", onclick: () => pick(i.task_id) },
        h("strong", {}, i.elder.name),
        h("span", { class: "ob-reason" }, label("care_r_", i.reason)),
        h("span", { class: "muted" }, i.elder.region_name || ""),
        h("span", { class: "muted ob-when" }, isDue(i) ? stepText(i)
          : `${t("care_next_at")} ${when(i.next_attempt_at)}`),
        isMine(i) ? null : h("span", { class: "muted" }, t("care_unassigned"))))));
    scheduleRetryRefresh();
  }

  function renderCard(item) {
    el.card.hidden = !item;
    if (!item) return;
    const e = item.elder;
    el.card.dataset.task = item.task_id;
    el.card.querySelector("#ob-elder").textContent = e.name;
    el.card.querySelector(".ob-reason").textContent = label("care_r_", item.reason);
    el.card.querySelector(".ob-step").textContent = stepText(item);
    const facts = [
      [t("care_age"), [e.age !== null && e.age !== undefined ? `${e.age}${cfg.lang === "en" ? " " : ""}${t("years")}` : "", e.sex ? t(e.sex) : ""].filter(Boolean).join(" · ")],
      [t("phones"), (e.phones || []).map((p) => h("a", { href: `tel:${p}`, class: "ob-phone" }, phone(p)))],
      [t("address"), e.address || "—"],
      [t("region"), e.region_name || "—"],
      [t("risk_groups"), (e.risk_groups || []).join("、") || "—"],
      [t("care_last_visit"), item.last_visit ? `${when(item.last_visit.at)} · ${label("care_m_", item.last_visit.method)} · ${label("care_o_", item.last_visit.outcome)}` : t("care_never")],
    ];
    el.card.querySelector(".ob-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    el.card.querySelector(".ob-script-text").textContent = scriptText(item);
    const contacts = item.contacts || [];
    el.card.querySelector(".ob-contacts").replaceChildren(...(contacts.length ? contacts.map((c) => h("li", {},
      `${c.name}${c.relation ? `（${c.relation}）` : ""} `, h("a", { href: `tel:${c.phone}` }, phone(c.phone))))
      : [h("li", { class: "muted" }, t("con_none"))]));
    el.card.classList.toggle("at-contacts", item.step === "contacts");
    if (st.pending !== item.task_id) {  // a fresh item: a clean form
      el.form.reset();
      st.pending = item.task_id;
    }
    el.form.querySelector(".ob-contact-reached").hidden = item.step !== "contacts";
    showItemPicker();
    el.form.querySelector("button[type=submit]").disabled = st.busy;
  }

  function showItemPicker() {
    const o = el.form.elements.outcome.value;
    el.form.querySelector(".ob-item").hidden = o !== "needs_service";
    itemSelect.required = o === "needs_service";
  }

  function pick(taskId) {
    st.current = taskId;
    say("");
    render();
    el.card.querySelector(".ob-profile").focus();
  }

  function say(text, cls = "") {
    el.msg.textContent = text;
    el.msg.className = `ob-msg ${cls}`;
  }

  function showError(text) {
    const p = el.form.querySelector(".ob-error");
    p.textContent = text;
    p.hidden = !text;
  }

  async function load() {
    clearTimeout(st.timer);
    st.timer = setTimeout(load, REFRESH_MS);
    const r = await api("GET", "/api/v1/care/worklist?limit=50");
    if (!r.ok) { say(errorText(r), "error"); return; }
    st.items = r.body.items || [];
    const c = r.body.counts || {};
    el.counts.textContent = [
      `${t("care_open")} ${c.open ?? st.items.length}`,
      `${t("care_due_now")} ${c.due_now ?? st.items.filter(isDue).length}`,
      `${t("care_done_today")} ${c.done_today ?? 0}`].join(" · ");
    render();
  }

  // a retry's time has come: show it as due without waiting for the minute's refresh
  function scheduleRetryRefresh() {
    clearTimeout(st.retryTimer);
    const next = st.items.map((i) => parseTime(i.next_attempt_at)).filter((d) => d && d > serverClock.now())
      .sort((a, b) => a - b)[0];
    if (next) st.retryTimer = setTimeout(render, Math.min(REFRESH_MS, next - serverClock.now() + 500));
  }

  let soon = null;
  function loadSoon() {  // many visits recorded at once: one refresh a second at most
    if (soon === null) soon = setTimeout(() => { soon = null; load(); }, 1000);
  }

  function resultText(task, body) {
    const bits = [t("care_recorded")];
    if (body.order_id) bits.push(fill("care_order_made", { id: body.order_id }));
    if (body.alarm_id) bits.push(fill("care_alarm_made", { id: body.alarm_id }));
    if (task && task.state === "home_visit") bits.push(t("care_home_visit"));
    else if (task && task.state === "open" && task.next_attempt_at) {
      bits.push(fill("care_retry_at", { time: when(task.next_attempt_at) }));
    }
    return bits.join(" · ");
  }

  el.form.addEventListener("change", (ev) => { if (ev.target.name === "outcome") showItemPicker(); });
  el.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const item = st.items.find((i) => i.task_id === st.current);
    if (!item || st.busy) return;
    const f = el.form.elements;
    const body = { outcome: f.outcome.value, method: f.method.value, note: f.note.value.trim() };
    if (body.outcome === "needs_service") {
      if (!f.item_code.value) { showError(t("care_need_item")); f.item_code.focus(); return; }
      body.item_code = f.item_code.value;
    }
    if (item.step === "contacts") body.contact_reached = f.contact_reached.checked;
    showError("");
    st.busy = true;
    el.form.querySelector("button[type=submit]").disabled = true;
    const r = await api("POST", `/api/v1/care/tasks/${item.task_id}/outcome`, body);
    st.busy = false;
    el.form.querySelector("button[type=submit]").disabled = false;
    if (!r.ok) {
      if (r.status === 409) { say(errorText(r), "error"); await load(); return; }
      showError(errorText(r));
      return;
    }
    st.current = null;
    st.pending = null;
    await load();  // the next elder is on the card before the result is said
    say(`${item.elder.name}：${resultText(r.body.task, r.body)}`, "ok");
  });
  el.card.querySelector(".ob-profile").addEventListener("click", () => {
    const item = st.items.find((i) => i.task_id === st.current);
    if (item) openProfile({ id: item.elder.id, name: item.elder.name });
  });
  document.getElementById("ob-refresh").addEventListener("click", load);
  // Only what changes this list fetches it again at once: a visit to a task on it or mine, a
  // task made for me, a new plan. Colleagues' visits elsewhere wait for the minute's refresh (a
  // busy centre records several a second; every console refetching each would be the load).
  function concernsMe(data) {
    const task = data.task || {};
    const ids = [data.task_id, task.task_id, task.id, ...(data.covered_task_ids || [])];
    return task.assigned_to === cfg.user.id || data.assigned_to === cfg.user.id
      || ids.some((id) => id !== undefined && st.items.some((i) => i.task_id === id));
  }
  window.addEventListener("anxin-live", (ev) => {
    const msg = ev.detail || {};
    if (msg.type === "snapshot" || msg.type === "care_plan") loadSoon();
    else if ((msg.type === "care_visit" || msg.type === "care_task") && concernsMe(msg.data || {})) loadSoon();
  });
  load();
}
