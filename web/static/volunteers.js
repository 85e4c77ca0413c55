// The volunteers page: search and register volunteers, open one to see the time-bank balance and
// history, log help given (points at the activity's rate), redeem points, and the month's report
// per community with CSV/XLSX downloads. Plain ES module; config comes from a JSON data block.

import { errorText as errorTextOf, h, makeApi, parseTime, phone } from "./common.js";

const root = document.getElementById("volunteers");
const cfg = JSON.parse(document.getElementById("volunteers-config").textContent);
const S = cfg.strings;
const en = cfg.lang === "en";
const t = (key) => (key in S ? S[key] : key);
const api = makeApi(root.dataset.csrf, t("vol_failed"));
const errorText = (r) => errorTextOf(r, t("vol_failed"));
const when = new Intl.DateTimeFormat(en ? "en-GB" : "zh-CN", {
  timeZone: cfg.tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const activityName = Object.fromEntries(cfg.activities.map((a) => [a.code, en ? a.name_en : a.name_zh]));
const pts = (n) => Number(n).toFixed(1);

const noticeEl = document.getElementById("vol-notice");
function notice(text, kind = "error") {
  noticeEl.textContent = text;
  noticeEl.className = kind === "ok" ? "notice ok" : "notice error";
  noticeEl.hidden = false;
}

function regionName(r) { return (en ? r.name_en || r.name : r.name) || r.code; }

// ---------- the list ----------

const searchForm = document.getElementById("vol-search");
const tbody = document.querySelector("#vol-table tbody");
const more = document.getElementById("vol-more");
let nextAfter = null;
let current = null;

async function search(append = false) {
  const params = new URLSearchParams();
  const q = searchForm.q.value.trim();
  if (q) params.set("q", q);
  if (searchForm.region.value) params.set("region", searchForm.region.value);
  if (append && nextAfter) params.set("after", nextAfter);
  const r = await api("GET", `/api/v1/volunteers?${params}`);
  if (!r.ok) { notice(errorText(r)); return; }
  if (!append) tbody.replaceChildren();
  for (const v of r.body.items) {
    const open = h("button", { type: "button", class: "link", text: v.name });
    open.addEventListener("click", () => openVolunteer(v.id));
    tbody.append(h("tr", { "data-id": v.id, class: v.active ? "" : "inactive" },
      h("td", {}, open), h("td", { text: phone(v.phone) }), h("td", { text: regionName(v.region) }),
      h("td", { class: "num", text: pts(v.balance) })));
  }
  nextAfter = r.body.next_after;
  more.hidden = !nextAfter;
  document.getElementById("vol-empty").hidden = tbody.children.length > 0;
}

searchForm.addEventListener("submit", (ev) => { ev.preventDefault(); search(); });
more.addEventListener("click", () => search(true));

// ---------- register ----------

const registerForm = document.getElementById("vol-register");
registerForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = registerForm;
  const body = {
    name: f.name.value, phone: f.phone.value, region_code: f.region_code.value,
    activities: [...f.querySelectorAll("input[name=activities]:checked")].map((i) => i.value),
  };
  if (f.id_number.value.trim()) body.id_number = f.id_number.value.trim();
  if (f.joined_on.value) body.joined_on = f.joined_on.value;
  const r = await api("POST", "/api/v1/volunteers", body);
  if (!r.ok) { notice(errorText(r)); return; }
  notice(`${t("vol_registered")}: ${r.body.name}`, "ok");
  f.reset();
  await search();
  await openVolunteer(r.body.id);
});

// ---------- one volunteer ----------

const detail = document.getElementById("vol-detail");
const historyBody = document.querySelector("#vol-history tbody");

function historyRow(row) {
  const what = row.kind === "earn"
    ? `${activityName[row.activity_code] || row.activity_code} · ${row.minutes} ${t("vol_min")}`
      + (row.elder_name ? ` · ${row.elder_name}` : "") + (row.note ? ` · ${row.note}` : "")
    : `${t("vol_redeemed_for")}: ${row.reason}`;
  const at = parseTime(row.kind === "earn" ? row.started_at : row.created_at);
  return h("tr", { class: row.kind },
    h("td", { text: at ? when.format(at) : "—" }), h("td", { text: what }),
    h("td", { class: "num", text: (row.points > 0 ? "+" : "") + pts(row.points) }),
    h("td", { class: "num", text: pts(row.balance_after) }));
}

async function openVolunteer(id) {
  const r = await api("GET", `/api/v1/volunteers/${id}`);
  if (!r.ok) { notice(errorText(r)); return; }
  const v = r.body;
  current = v;
  document.getElementById("vol-d-name").textContent = v.name;
  document.getElementById("vol-d-meta").textContent = [phone(v.phone), regionName(v.region),
    v.id_number, `${t("vol_joined_on")} ${v.joined_on}`,
    v.activities.map((a) => activityName[a] || a).join("、"), v.active ? "" : t("vol_inactive")]
    .filter(Boolean).join(" · ");
  document.getElementById("vol-d-balance").textContent = pts(v.balance);
  document.getElementById("vol-d-earned").textContent = pts(v.earned);
  document.getElementById("vol-d-redeemed").textContent = pts(v.redeemed);
  document.getElementById("vol-d-hours").textContent = v.hours.toFixed(1);
  document.getElementById("vol-d-toggle").textContent = t(v.active ? "vol_deactivate" : "vol_activate");
  historyBody.replaceChildren(...v.history.map(historyRow));
  detail.hidden = false;
  const row = tbody.querySelector(`tr[data-id="${v.id}"] td.num`);
  if (row) row.textContent = pts(v.balance);
}

document.getElementById("vol-d-toggle").addEventListener("click", async () => {
  if (!current) return;
  const r = await api("PATCH", `/api/v1/volunteers/${current.id}`, { active: !current.active });
  if (!r.ok) { notice(errorText(r)); return; }
  notice(t(r.body.active ? "vol_activated" : "vol_deactivated"), "ok");
  await openVolunteer(current.id);
  const row = tbody.querySelector(`tr[data-id="${current.id}"]`);
  if (row) row.className = current.active ? "" : "inactive";
});

const hoursForm = document.getElementById("vol-hours");
hoursForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!current) return;
  const f = hoursForm;
  const body = { activity: f.activity.value, started_at: f.started_at.value, minutes: Number(f.minutes.value) };
  if (f.elder_id.value) body.elder_id = Number(f.elder_id.value);
  if (f.note.value.trim()) body.note = f.note.value.trim();
  const r = await api("POST", `/api/v1/volunteers/${current.id}/hours`, body);
  if (!r.ok) { notice(errorText(r)); return; }
  notice(`${t("vol_logged")}: +${pts(r.body.hours.points)}`, "ok");
  f.minutes.value = ""; f.note.value = "";
  await openVolunteer(current.id);
  report();
});

const redeemForm = document.getElementById("vol-redeem");
redeemForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!current) return;
  const f = redeemForm;
  const r = await api("POST", `/api/v1/volunteers/${current.id}/redemptions`,
    { points: Number(f.points.value), reason: f.reason.value });
  if (!r.ok) { notice(errorText(r)); return; }
  notice(`${t("vol_redeemed_ok")}: ${pts(-r.body.ledger.points)}`, "ok");
  f.reset();
  await openVolunteer(current.id);
  report();
});

// ---------- the month's report ----------

const reportForm = document.getElementById("vol-report-form");
const FIGS = ["volunteers", "active_volunteers", "logs", "hours", "points_earned", "points_redeemed", "elders_helped"];

function figureCells(f) { return FIGS.map((k) => h("td", { class: "num", text: String(f[k]) })); }

async function report() {
  const params = new URLSearchParams({ month: reportForm.month.value || cfg.month, region: reportForm.region.value, lang: cfg.lang });
  const r = await api("GET", `/api/v1/volunteers/report?${params}`);
  if (!r.ok) { notice(errorText(r)); return; }
  const body = document.querySelector("#vol-report tbody");
  body.replaceChildren(...r.body.communities.map((c) => h("tr", {}, h("td", { text: regionName(c) }), ...figureCells(c))));
  document.querySelector("#vol-report tfoot").replaceChildren(
    h("tr", {}, h("th", { scope: "row", text: t("vol_total") }), ...figureCells(r.body.totals)));
  document.getElementById("vol-dl-csv").href = `/api/v1/volunteers/report?${params}&format=csv`;
  document.getElementById("vol-dl-xlsx").href = `/api/v1/volunteers/report?${params}&format=xlsx`;
}

reportForm.addEventListener("submit", (ev) => { ev.preventDefault(); report(); });

// a sensible default for the hours form: an hour ago, local to the platform's zone
function localNow(offsetMin) {
  const d = new Date(Date.now() - offsetMin * 60_000);
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
    timeZone: cfg.tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(d).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}
hoursForm.started_at.value = localNow(120);

search();
report();
