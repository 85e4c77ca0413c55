// The settlement page: the chosen month's totals per provider from /api/v1/settlements, with
// links to each provider's statement (XLSX, printable HTML), and closing the month for those
// allowed. The month picker reloads the page with ?month= (works without this script).

import { h, makeApi, errorText } from "/static/common.js";

const cfg = JSON.parse(document.getElementById("settlement-config").textContent);
const t = (k) => cfg.strings[k] || k;
const api = makeApi(cfg.csrf, t("set_failed"));
const rows = document.getElementById("set-rows");
const foot = document.getElementById("set-totals");
const table = document.getElementById("set-table");
const stateEl = document.getElementById("set-state");
const msg = document.getElementById("set-msg");
const closeBtn = document.getElementById("set-close");
const corrections = document.getElementById("set-corrections");
const nf = new Intl.NumberFormat(cfg.lang === "en" ? "en" : "zh-CN");
const yuan = new Intl.NumberFormat(cfg.lang === "en" ? "en" : "zh-CN",
  { minimumFractionDigits: 2, maximumFractionDigits: 2 });

function say(text, ok) {
  msg.textContent = text || "";
  msg.hidden = !text;
  msg.classList.toggle("ok", Boolean(ok));
}

function figures(d) {
  return [d.orders, d.checked_min, d.subsidised_min, d.self_paid_min].map((n) =>
    h("td", { class: "num" }, nf.format(n))).concat([d.subsidised_cents, d.self_paid_cents].map((c) =>
    h("td", { class: "num" }, yuan.format(c / 100))));
}

function links(p) {
  const q = `month=${encodeURIComponent(cfg.month)}&lang=${cfg.lang}`;
  const base = `/api/v1/settlements/${p.provider_id}`;
  return h("td", { class: "dl" },
    h("a", { href: `${base}.xlsx?${q}`, download: "", "data-provider": p.provider_id, class: "dl-xlsx" }, t("set_xlsx")),
    h("a", { href: `${base}.html?${q}`, target: "_blank", rel: "noopener", class: "dl-html" }, t("set_html")));
}

function render(body) {
  const name = (p) => (cfg.lang === "en" && p.provider_name_en) || p.provider_name;
  rows.replaceChildren(...(body.providers.length ? body.providers.map((p) =>
    h("tr", { "data-provider": p.provider_id }, h("td", {}, name(p)), ...figures(p), links(p))) :
    [h("tr", {}, h("td", { colSpan: 8, class: "muted" }, t("set_none")))]));
  foot.replaceChildren(h("tr", { id: "set-total-row" }, h("td", {}, t("set_total")), ...figures(body.totals), h("td", {})));
  stateEl.textContent = body.closed ? `${t("set_closed")}${body.closed_by_name ? ` · ${t("set_closed_by")} ${body.closed_by_name}` : ""}` : t("set_open");
  stateEl.classList.toggle("closed", body.closed);
  closeBtn.hidden = !(cfg.can_close && body.ended && !body.closed);
  if (body.corrections && body.corrections.rows) {
    corrections.textContent = `${t("set_corrections")}: ${nf.format(body.corrections.rows)} · ${nf.format(body.corrections.minutes)} ${t("set_minutes")} · ¥${yuan.format(body.corrections.cents / 100)}`;
    corrections.hidden = false;
  } else corrections.hidden = true;
  table.dataset.state = "ready";
}

async function load() {
  table.dataset.state = "loading";
  const r = await api("GET", `/api/v1/settlements?month=${encodeURIComponent(cfg.month)}`);
  if (!r.ok) {
    rows.replaceChildren(h("tr", {}, h("td", { colSpan: 8 }, errorText(r, t("set_failed")))));
    table.dataset.state = "error";
    return;
  }
  render(r.body);
}

closeBtn.addEventListener("click", async () => {
  if (!window.confirm(t("set_close_confirm"))) return;
  closeBtn.disabled = true;
  const r = await api("POST", "/api/v1/settlements/close", { month: cfg.month });
  closeBtn.disabled = false;
  if (!r.ok) { say(errorText(r, t("set_failed"))); return; }
  say(`${cfg.month} ${t("set_closed")}`, true);
  load();
});

document.getElementById("set-month").addEventListener("change", (ev) => {
  if (ev.target.value) ev.target.form.requestSubmit();
});

load();
