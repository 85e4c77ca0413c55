// The dashboard's care-programme panels (issue 7): this month's active-care visit rate of the
// region and of each child region, the elders not reached yet (from /api/v1/care/visit-rate),
// and last month's settlement per provider (from /api/v1/settlements), with each provider's
// statement to download. The visit rate follows the live channel: dashboard.js re-dispatches
// each message as the window event "anxin-live", and a "care_visit" fetches again (at most
// every 2 s).

const root = document.getElementById("dashboard");
const cfg = JSON.parse(document.getElementById("dashboard-config").textContent);
const S = cfg.strings;
const t = (key) => (key in S ? S[key] : key);
const locale = cfg.lang === "en" ? "en-GB" : "zh-CN";
const THROTTLE_MS = 2_000;
const REFRESH_MS = 60_000;
const TARGET = 1.0;  // SPEC §5.3: every due elder visited each month

const num = new Intl.NumberFormat(locale);
const one = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const yuan = new Intl.NumberFormat(locale, { style: "currency", currency: "CNY", minimumFractionDigits: 2 });
const fmtRate = (r) => (r === null || r === undefined ? "—" : `${one.format(r * 100)}%`);
const hours = (min) => one.format((min || 0) / 60);
const money = (cents) => yuan.format((cents || 0) / 100);
const regionQuery = `region=${encodeURIComponent(cfg.region.code)}`;

function grade(rate) {
  if (rate === null || rate === undefined) return "none";
  return rate >= TARGET ? "ok" : rate >= 0.8 ? "warn" : "bad";
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, v);
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

async function getJson(url) {
  const resp = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  const body = await resp.json().catch(() => null);
  return { ok: resp.ok && body !== null, status: resp.status, body };
}

// ---------- visit rate ----------

function renderCare(d) {
  const kpi = root.querySelector('[data-fig="care.rate"]');
  kpi.querySelector("dd").textContent = fmtRate(d.rate);
  kpi.dataset.grade = grade(d.rate);
  root.querySelector('[data-sub="care"]').textContent =
    `${t("dash_care_visited")} ${num.format(d.visited)} / ${t("dash_care_due")} ${num.format(d.due)}`;
  document.getElementById("care-month").textContent = d.month;
  const body = document.querySelector("#care-regions tbody");
  body.replaceChildren(...(d.regions || []).map((r) => {
    const rate = el("td", { "data-grade": grade(r.rate) }, fmtRate(r.rate));
    const name = cfg.lang === "en" && r.name_en ? r.name_en : r.name;
    return el("tr", { "data-region": r.code }, el("th", { scope: "row", title: name }, name),
      el("td", {}, num.format(r.due)), el("td", {}, num.format(r.visited)), rate);
  }));
  const missing = d.not_reached || [];
  const left = Math.max(0, d.due - d.visited);
  document.getElementById("care-missing-n").textContent = `${num.format(left)} ${t("dash_care_people")}`;
  document.getElementById("care-missing").replaceChildren(...(missing.length
    ? missing.map((m) => el("li", { "data-elder": m.elder_id }, `${m.name} `,
        el("span", { class: "dim" }, [m.region_name, m.attempts ? `${t("dash_care_tries")} ${m.attempts}` : "",
          m.assigned_to_name || ""].filter(Boolean).join(" · "))))
    : [el("li", { class: "dim" }, t("dash_care_all_reached"))]));
  root.dataset.care = "ready";
}

// ---------- settlement ----------

function renderSettlement(d) {
  document.getElementById("set-month").textContent = d.month + (d.closed ? ` · ${t("dash_set_closed")}` : "");
  const link = (p) => el("a", { href: `/api/v1/settlements/${p.provider_id}.xlsx?month=${d.month}`,
                               download: "" }, "XLSX");
  document.querySelector("#set-providers tbody").replaceChildren(...(d.providers || []).map((p) =>
    el("tr", { "data-provider": p.provider_id },
      el("th", { scope: "row", title: p.provider_name }, cfg.lang === "en" && p.provider_name_en ? p.provider_name_en : p.provider_name),
      el("td", {}, num.format(p.orders)), el("td", {}, hours(p.checked_min)),
      el("td", {}, money(p.subsidised_cents)), el("td", {}, money(p.self_paid_cents)),
      el("td", {}, link(p)))));
  const tot = d.totals || {};
  document.querySelector("#set-providers tfoot").replaceChildren(el("tr", {},
    el("th", { scope: "row" }, t("dash_set_total")), el("td", {}, num.format(tot.orders || 0)),
    el("td", {}, hours(tot.checked_min)), el("td", {}, money(tot.subsidised_cents)),
    el("td", {}, money(tot.self_paid_cents)), el("td", {})));
  root.dataset.settlement = "ready";
}

// ---------- fetching ----------

const st = { timer: null, last: 0, inflight: false, again: false };

async function loadCare() {
  if (st.inflight) { st.again = true; return; }
  st.inflight = true;
  st.last = Date.now();
  try {
    const r = await getJson(`/api/v1/care/visit-rate?month=${cfg.month}&${regionQuery}`);
    if (r.ok) renderCare(r.body);
  } finally {
    st.inflight = false;
    if (st.again) { st.again = false; soon(); }
  }
}

function soon() {
  if (st.timer) return;
  st.timer = setTimeout(() => { st.timer = null; loadCare(); }, Math.max(0, st.last + THROTTLE_MS - Date.now()));
}

async function loadSettlement() {
  const r = await getJson(`/api/v1/settlements?month=${cfg.last_month}&${regionQuery}`);
  if (r.ok) renderSettlement(r.body);
}

window.addEventListener("anxin-live", (ev) => {
  const type = (ev.detail || {}).type || "";
  if (type === "care_visit" || type === "snapshot" || type === "resumed") soon();
});
setInterval(soon, REFRESH_MS);
setInterval(loadSettlement, 10 * REFRESH_MS);
loadCare();
loadSettlement();
