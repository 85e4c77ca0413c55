// The quality page (/quality): each visible provider's stars with the breakdown (satisfaction,
// punctuality, completion, complaints, missed visits, orders), the selected provider's rating
// history and follow-up sample rate, and the complaints with their handling. Data from
// GET /api/v1/ratings, /api/v1/providers/{id}/ratings and /api/v1/complaints.

import { errorText as errorTextOf, h, makeApi, parseTime } from "./common.js";

const root = document.getElementById("quality");
const cfgEl = document.getElementById("quality-config");

if (root && cfgEl) init(JSON.parse(cfgEl.textContent));

function init(cfg) {
  const S = cfg.strings;
  const t = (key) => (key in S ? S[key] : key);
  const fill = (key, vars) => Object.entries(vars).reduce((s, [k, v]) => s.replaceAll(`{${k}}`, v), t(key));
  const api = makeApi(root.dataset.csrf, t("qa_failed"));
  const errorText = (r) => errorTextOf(r, t("qa_failed"));
  const locale = cfg.lang === "en" ? "en-GB" : "zh-CN";
  const timeFmt = new Intl.DateTimeFormat(locale, {
    timeZone: cfg.tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const when = (v) => { const d = parseTime(v); return d ? timeFmt.format(d) : "—"; };
  const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 100)}%`);
  const num = (v, d = 1) => (v === null || v === undefined ? "—" : Number(v).toFixed(d));
  const st = { providers: [], selected: null };
  const msg = document.getElementById("qa-msg");
  const say = (text, cls = "") => { msg.textContent = text; msg.className = `qa-msg ${cls}`; };
  const name = (p) => (cfg.lang === "en" && p.name_en ? p.name_en : p.name);

  function renderProviders() {
    const rows = document.getElementById("qa-rows");
    document.getElementById("qa-providers").dataset.state = "ready";
    rows.replaceChildren(...st.providers.map((p) => {
      const b = (p.latest && p.latest.breakdown) || {};
      const s = b.scores || {};
      return h("tr", { class: p.id === st.selected ? "on" : "", "data-provider": p.id },
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => select(p.id) }, name(p))),
        h("td", { class: "num qa-stars" }, `${num(p.star_rating)} ★`),
        h("td", { class: "num" }, b.satisfaction_mean === null || b.satisfaction_mean === undefined ? "—"
          : `${num(b.satisfaction_mean, 2)} (${b.satisfaction_n})`),
        h("td", { class: "num" }, pct(s.punctuality)),
        h("td", { class: "num" }, pct(s.completion)),
        h("td", { class: "num" }, b.orders ? `${b.upheld}/${b.complaints}` : "—"),
        h("td", { class: "num" }, b.orders ? String(b.missed) : "—"),
        h("td", { class: "num" }, b.orders === undefined ? "—" : String(b.orders)));
    }));
    if (!st.providers.length) rows.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "muted" }, t("qa_no_providers"))));
  }

  async function loadProviders() {
    const r = await api("GET", "/api/v1/ratings");
    if (!r.ok) { say(errorText(r), "error"); return; }
    st.providers = r.body.providers || [];
    if (st.selected === null && st.providers.length) st.selected = st.providers[0].id;
    renderProviders();
    if (st.selected !== null) await renderDetail();
  }

  async function select(id) {
    st.selected = id;
    renderProviders();
    await renderDetail();
    await loadComplaints();
  }

  async function renderDetail() {
    const p = st.providers.find((x) => x.id === st.selected);
    const box = document.getElementById("qa-detail");
    box.hidden = !p;
    if (!p) return;
    document.getElementById("qa-detail-title").textContent = `${name(p)} · ${num(p.star_rating)} ★`;
    const b = (p.latest && p.latest.breakdown) || {};
    const s = b.scores || {};
    const facts = [
      [t("qa_satisfaction"), b.satisfaction_n ? fill("qa_sat_text", { mean: num(b.satisfaction_mean, 2), n: b.satisfaction_n }) : "—"],
      [t("qa_punctuality"), b.orders ? `${pct(s.punctuality)} (${b.on_time}/${b.on_time + b.late})` : "—"],
      [t("qa_completion"), b.orders ? `${pct(s.completion)} (${b.completed}/${b.completed + b.failed})` : "—"],
      [t("qa_complaints"), b.orders ? fill("qa_complaints_text", { n: b.complaints, upheld: b.upheld, per100: num(b.upheld_per_100) }) : "—"],
      [t("qa_missed"), b.orders ? `${b.missed} (${num(b.missed_per_100)} / 100)` : "—"],
      [t("qa_orders"), b.orders === undefined ? "—" : String(b.orders)],
      [t("qa_followup_rate"), pct(p.followup_rate)],
      [t("qa_computed"), p.latest ? `${when(p.latest.computed_at)}${p.latest.kept ? ` · ${t("qa_kept")}` : ""}` : t("qa_never")],
    ];
    document.getElementById("qa-breakdown").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    const form = document.getElementById("qa-rate-form");
    if (form) form.elements.rate.value = Math.round(p.followup_rate * 100);
    const r = await api("GET", `/api/v1/providers/${p.id}/ratings`);
    const hist = r.ok ? r.body.history : [];
    document.getElementById("qa-history").replaceChildren(...hist.map((x) => h("tr", {},
      h("td", {}, `${x.day} ${when(x.computed_at).slice(-5)}`), h("td", { class: "num qa-stars" }, `${num(x.stars)} ★`),
      h("td", {}, `${t(`qa_kind_${x.kind}`)}${x.kept ? ` · ${t("qa_kept")}` : ""}`))));
  }

  function complaintRow(c) {
    const bits = [
      h("strong", {}, `#${c.id} ${t(`fu_cat_${c.category}`)}`), " · ", c.elder.name, " · ", c.provider.name, " · ",
      h("span", {}, t(`qa_st_${c.state}`)), " · ",
      h("span", { class: c.overdue ? "qa-overdue" : "muted" }, `${t("qa_deadline")} ${when(c.deadline_at)}${c.overdue ? ` · ${t("qa_overdue")}` : ""}`),
      c.handler ? ` · ${t("qa_handler")} ${c.handler.name}` : "",
    ];
    const kids = [h("div", {}, ...bits), h("div", {}, c.description)];
    if (c.resolution) kids.push(h("div", { class: "muted" }, `${t("qa_resolution")}：${c.resolution}${c.upheld ? ` · ${t("qa_upheld")}` : ""}`));
    if (c.provider_note) kids.push(h("div", { class: "muted" }, `${t("qa_provider_note")}：${c.provider_note}`));
    if (cfg.can_handle && c.state !== "resolved") {
      const form = h("form", { autocomplete: "off" },
        c.state === "open" ? h("button", { type: "button", onclick: () => change(c.id, "assign", { handler_id: cfg.user.id }) }, t("qa_take")) : null,
        h("input", { name: "resolution", maxlength: 2000, placeholder: t("qa_resolution") }),
        h("label", {}, h("input", { type: "checkbox", name: "upheld" }), ` ${t("qa_upheld")}`),
        h("button", { type: "submit" }, t("qa_resolve")));
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        change(c.id, "resolve", { resolution: form.elements.resolution.value.trim(), upheld: form.elements.upheld.checked });
      });
      kids.push(form);
    }
    if (cfg.can_respond) {
      const form = h("form", { autocomplete: "off" },
        h("input", { name: "note", maxlength: 1000, placeholder: t("qa_provider_note") }),
        h("button", { type: "submit" }, t("qa_respond")));
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        change(c.id, "response", { note: form.elements.note.value.trim() });
      });
      kids.push(form);
    }
    return h("div", { class: "qa-complaint", "data-complaint": c.id }, ...kids);
  }

  async function change(id, action, body) {
    const r = await api("POST", `/api/v1/complaints/${id}/${action}`, body);
    if (!r.ok) { say(errorText(r), "error"); return; }
    say(fill("qa_saved", { id }), "ok");
    await loadComplaints();
  }

  async function loadComplaints() {
    const f = document.getElementById("qa-filter").elements;
    const q = new URLSearchParams();
    if (f.state.value) q.set("state", f.state.value);
    if (f.overdue.checked) q.set("overdue", "true");
    if (f.selected.checked && st.selected !== null) q.set("provider_id", st.selected);
    const r = await api("GET", `/api/v1/complaints?${q}`);
    if (!r.ok) { say(errorText(r), "error"); return; }
    const items = r.body.items || [];
    document.getElementById("qa-complaints").replaceChildren(...items.map(complaintRow));
    document.getElementById("qa-complaints-empty").hidden = items.length > 0;
  }

  document.getElementById("qa-filter").addEventListener("change", loadComplaints);
  const rateForm = document.getElementById("qa-rate-form");
  if (rateForm) rateForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("PATCH", `/api/v1/providers/${st.selected}/followup-rate`, { rate: Number(rateForm.elements.rate.value) / 100 });
    if (!r.ok) { say(errorText(r), "error"); return; }
    say(t("qa_rate_saved"), "ok");
    await loadProviders();
  });
  const recompute = document.getElementById("qa-recompute");
  if (recompute) recompute.addEventListener("click", async () => {
    recompute.disabled = true;
    const r = await api("POST", "/api/v1/ratings/recompute");
    recompute.disabled = false;
    if (!r.ok) { say(errorText(r), "error"); return; }
    say(fill("qa_recomputed", { n: r.body.providers.length }), "ok");
    await loadProviders();
  });
  loadProviders().then(loadComplaints);
}
