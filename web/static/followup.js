// The console's follow-up calls (回访): the next completed order whose elder should be asked how
// it went, with phones, item, provider and staff; the operator records 1-5 stars and a comment,
// or that nobody answered (tried again later), and may open a complaint (offered at once when
// the score is 2 or less). Data from GET /api/v1/followups; answers go to
// POST /api/v1/followups/{id}/record; complaints to POST /api/v1/complaints.

import { consolePanel, h, phone } from "./common.js";

const panel = document.getElementById("followups");
const cfgEl = document.getElementById("console-config");
const REFRESH_MS = 60_000;

if (panel && cfgEl) init();

function init() {
  const { cfg, t, api, errorText, when, fill } = consolePanel();

  const el = {
    counts: document.getElementById("fu-counts"),
    empty: document.getElementById("fu-empty"),
    msg: document.getElementById("fu-msg"),
    card: document.getElementById("fu-current"),
    list: document.getElementById("fu-list"),
    form: document.getElementById("fu-form"),
    complaint: document.getElementById("fu-complaint"),
  };
  const st = { items: [], current: null, busy: false, timer: null, complaintFor: null };
  const itemName = (i) => (cfg.lang === "en" && i.item.name_en ? i.item.name_en : i.item.name);

  function render() {
    const items = st.items;
    el.empty.hidden = items.length > 0;
    if (!st.current || !items.some((i) => i.id === st.current)) {
      const next = items.find((i) => i.due);
      st.current = next ? next.id : null;
    }
    const current = items.find((i) => i.id === st.current) || null;
    renderCard(current);
    el.list.replaceChildren(...items.filter((i) => i !== current).map((i) => h("li", {
      class: `ob-row${i.due ? "" : " later"}`, "data-followup": i.id },
      h("button", { type: "button", class: "ob-pick", onclick: () => pick(i.id) },
        h("strong", {}, i.elder.name),
        h("span", {}, itemName(i)),
        h("span", { class: "muted" }, i.provider.name || ""),
        h("span", { class: "muted ob-when" }, i.due ? fill("fu_done_at", { time: when(i.completed_at) })
          : `${t("fu_next_at")} ${when(i.next_attempt_at)}`)))));
  }

  function renderCard(item) {
    el.card.hidden = !item;
    if (!item) return;
    el.card.dataset.followup = item.id;
    el.card.querySelector("#fu-elder").textContent = item.elder.name;
    el.card.querySelector(".fu-step").textContent = item.attempts
      ? fill("fu_attempts_n", { n: item.attempts, max: item.max_tries }) : "";
    const facts = [
      [t("phones"), (item.elder.phones || []).map((p) => h("a", { href: `tel:${p}`, class: "ob-phone" }, phone(p)))],
      [t("region"), item.elder.region_name || "—"],
      [t("fu_item"), `${itemName(item)} · ${t("fu_order")} ${item.order_id}`],
      [t("fu_provider"), item.provider.name || "—"],
      [t("fu_staff"), item.staff_name || "—"],
      [t("fu_completed"), when(item.completed_at)],
    ];
    el.card.querySelector(".fu-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    if (el.form.dataset.for !== String(item.id)) {
      el.form.reset();
      el.form.dataset.for = String(item.id);
      showError("");
    }
    for (const b of el.form.querySelectorAll("button")) b.disabled = st.busy;
  }

  function pick(id) {
    st.current = id;
    say("");
    render();
  }

  function say(text, cls = "") {
    el.msg.textContent = text;
    el.msg.className = `ob-msg ${cls}`;
  }

  function showError(text, sel = ".fu-error", root = el.form) {
    const p = root.querySelector(sel);
    p.textContent = text;
    p.hidden = !text;
  }

  async function load() {
    clearTimeout(st.timer);
    st.timer = setTimeout(load, REFRESH_MS);
    const r = await api("GET", "/api/v1/followups?limit=50");
    if (!r.ok) { say(errorText(r), "error"); return; }
    st.items = r.body.items || [];
    const c = r.body.counts || {};
    el.counts.textContent = [`${t("fu_open")} ${c.open ?? 0}`, `${t("fu_due")} ${c.due ?? 0}`,
      `${t("fu_answered_today")} ${c.answered_today ?? 0}`].join(" · ");
    render();
  }

  async function send(item, body) {
    st.busy = true;
    render();
    const r = await api("POST", `/api/v1/followups/${item.id}/record`, body);
    st.busy = false;
    if (!r.ok) {
      render();
      if (r.status === 409) { say(errorText(r), "error"); await load(); return null; }
      showError(errorText(r));
      return null;
    }
    st.current = null;
    await load();
    return r.body;
  }

  function openComplaint(item, low) {
    st.complaintFor = { elder_id: item.elder.id, order_id: item.order_id, followup_id: item.id,
      name: item.elder.name };
    el.complaint.reset();
    el.complaint.querySelector(".fu-complaint-who").textContent = `${item.elder.name} · ${item.provider.name || ""}`;
    el.complaint.querySelector(".fu-low").hidden = !low;
    showError("", ".fu-complaint-error", el.complaint);
    el.complaint.hidden = false;
    el.complaint.elements.description.focus();
  }

  el.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const item = st.items.find((i) => i.id === st.current);
    if (!item || st.busy) return;
    const f = el.form.elements;
    if (!f.satisfaction.value) { showError(t("fu_need_stars")); return; }
    showError("");
    const out = await send(item, { satisfaction: Number(f.satisfaction.value), comment: f.comment.value.trim() });
    if (!out) return;
    say(`${item.elder.name}：${fill("fu_recorded", { n: out.satisfaction })}`, "ok");
    if (out.suggest_complaint) openComplaint(item, true);
  });
  document.getElementById("fu-unreachable").addEventListener("click", async () => {
    const item = st.items.find((i) => i.id === st.current);
    if (!item || st.busy) return;
    const out = await send(item, { unreachable: true, comment: el.form.elements.comment.value.trim() });
    if (!out) return;
    say(`${item.elder.name}：${out.state === "open" ? fill("fu_retry_at", { time: when(out.next_attempt_at) })
      : t("fu_closed_unreachable")}`, "ok");
  });
  document.getElementById("fu-complain").addEventListener("click", () => {
    const item = st.items.find((i) => i.id === st.current);
    if (item) openComplaint(item, false);
  });
  el.complaint.querySelector(".fu-complaint-cancel").addEventListener("click", () => { el.complaint.hidden = true; });
  el.complaint.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const c = st.complaintFor;
    if (!c) return;
    const f = el.complaint.elements;
    const r = await api("POST", "/api/v1/complaints", { category: f.category.value, elder_id: c.elder_id,
      order_id: c.order_id, followup_id: c.followup_id, description: f.description.value.trim() });
    if (!r.ok) { showError(errorText(r), ".fu-complaint-error", el.complaint); return; }
    el.complaint.hidden = true;
    say(`${c.name}：${fill("fu_complaint_filed", { id: r.body.id, time: when(r.body.deadline_at) })}`, "ok");
  });
  document.getElementById("fu-refresh").addEventListener("click", load);
  load();
}
