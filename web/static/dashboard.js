// The supervisor's big screen: figures from /api/v1/dashboard, drawn with the vendored ECharts;
// the live channel (/ws/console) says when something changed, and the figures are fetched again,
// at most every 2 s. A banner shows while the channel is down. Plain ES module, no framework.

import { liveChannel } from "./common.js";

const root = document.getElementById("dashboard");
const cfg = JSON.parse(document.getElementById("dashboard-config").textContent);
const S = cfg.strings;
const t = (key) => (key in S ? S[key] : key);
const zh = cfg.lang !== "en";
const locale = zh ? "zh-CN" : "en-GB";

const THROTTLE_MS = 2_000;
const REFRESH_MS = 60_000;   // shares "within 60 s" change with time alone
const PING_MS = 25_000;
const LIVE_TYPES = /^(alarm|call|order)\./;
const MAX_CATEGORIES = 8;

const num = new Intl.NumberFormat(locale);
const one = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const dayFmt = new Intl.DateTimeFormat(locale, { timeZone: cfg.tz, year: "numeric", month: "long", day: "numeric", weekday: "short" });
const timeFmt = new Intl.DateTimeFormat(locale, { timeZone: cfg.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });

const fmtN = (v) => (v === null || v === undefined ? "—" : num.format(v));
const fmtPct = (v) => (v === null || v === undefined ? "—" : `${one.format(v)}%`);
const named = (x) => (zh ? x.name_zh || x.name : x.name_en || x.name_zh || x.name);

const state = { timer: null, lastFetch: 0, inflight: false, again: false, charts: {} };

// ---------- figures ----------

function setFig(key, text, grade) {
  const el = root.querySelector(`[data-fig="${key}"]`);
  if (!el) return;
  el.querySelector("dd").textContent = text;
  if (grade !== undefined) el.dataset.grade = grade;
}

function setSub(key, text) {
  const el = root.querySelector(`[data-sub="${key}"]`);
  if (el) el.textContent = text;
}

function grade(value, target) {
  if (value === null || value === undefined) return "none";
  return value >= target ? "ok" : value >= target - 2.5 ? "warn" : "bad";
}

function renderFigures(d) {
  const f = d.figures;
  setFig("calls.total", fmtN(f.calls.total));
  setSub("calls", `${t("dash_answered")} ${fmtN(f.calls.answered)} · ${t("dash_abandoned")} ${fmtN(f.calls.abandoned)}`);
  setFig("alarms.total", fmtN(f.alarms.total));
  setSub("alarms", f.answer.median_s === null ? "" : `${t("dash_median")} ${one.format(f.answer.median_s)} ${t("dash_seconds")}`);
  setFig("orders.total", fmtN(f.orders.total));
  setSub("orders", `${t("dash_completed")} ${fmtN(f.orders.completed)} · ${t("dash_no_candidate")} ${fmtN(f.orders.no_candidate)}`);
  const targets = f.answer.targets;
  setFig("answer.pct_60s", fmtPct(f.answer.pct_60s), grade(f.answer.pct_60s, targets.pct_60s));
  setFig("answer.pct_180s", fmtPct(f.answer.pct_180s), grade(f.answer.pct_180s, targets.pct_180s));
  setFig("answer.unacknowledged", fmtN(f.answer.unacknowledged), f.answer.unacknowledged ? "bad" : "ok");
  setSub("answer", "");
  setFig("staff.on_shift", fmtN(d.staff.on_shift));
  setSub("staff", `${t("dash_of")} ${fmtN(d.staff.staff)}`);
  document.getElementById("dash-day").textContent = dayFmt.format(new Date(`${d.day}T12:00:00+08:00`));
  document.getElementById("dash-updated").textContent = `${t("dash_updated")} ${timeFmt.format(new Date(String(d.generated_at).replace(/(\.\d{3})\d+/, "$1")))}`;
  renderDistricts(d.children);
  renderCharts(d);
  root.dataset.state = "ready";
  root.dataset.generated = d.generated_at;
}

function renderDistricts(children) {
  const body = document.querySelector("#districts tbody");
  body.replaceChildren();
  for (const c of children) {
    const f = c.figures;
    const tr = document.createElement("tr");
    tr.dataset.region = c.code;
    const cells = [named(c), fmtN(f.calls.total), fmtN(f.alarms.total), fmtN(f.orders.total),
                   fmtPct(f.answer.pct_60s), fmtPct(f.answer.pct_180s)];
    cells.forEach((text, i) => {
      const td = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) { td.scope = "row"; td.title = text; }
      td.textContent = text;
      if (i === 4) td.dataset.grade = grade(f.answer.pct_60s, f.answer.targets.pct_60s);
      if (i === 5) td.dataset.grade = grade(f.answer.pct_180s, f.answer.targets.pct_180s);
      tr.append(td);
    });
    body.append(tr);
  }
  document.getElementById("districts-empty").hidden = children.length > 0;
}

// ---------- charts ----------

const INK = "#e8eef5";
const DIM = "#8ea3b8";
const GRID = "#26384c";
const PALETTE = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#4db6ac", "#f06292", "#90a4ae", "#aed581", "#7986cb"];
const FONT = { color: INK, fontSize: 16, fontFamily: "Noto Sans CJK SC, Microsoft YaHei, sans-serif" };

function chart(id) {
  if (!window.echarts) return null;
  if (!state.charts[id]) state.charts[id] = window.echarts.init(document.getElementById(id), null, { renderer: "canvas" });
  return state.charts[id];
}

function base() {
  return {
    animation: false,
    color: PALETTE,
    textStyle: FONT,
    // richText keeps the tooltip inside the canvas: no inline styles for the page's CSP to refuse
    tooltip: { trigger: "axis", renderMode: "richText", textStyle: { fontSize: 16 } },
    grid: { left: 12, right: 24, top: 16, bottom: 8, containLabel: true },
  };
}

function bars(id, labels, values, { horizontal = false } = {}) {
  const c = chart(id);
  if (!c) return;
  const cat = { type: "category", data: labels, axisLabel: { color: INK, fontSize: 15, interval: 0 }, axisLine: { lineStyle: { color: GRID } } };
  const val = { type: "value", minInterval: 1, axisLabel: { color: DIM, fontSize: 14 }, splitLine: { lineStyle: { color: GRID } } };
  c.setOption({
    ...base(),
    xAxis: horizontal ? val : { ...cat, axisLabel: { ...cat.axisLabel, rotate: labels.length > 6 ? 30 : 0 } },
    yAxis: horizontal ? { ...cat, inverse: true } : val,
    series: [{ type: "bar", data: values, barMaxWidth: 38, colorBy: "data",
               label: { show: true, position: horizontal ? "right" : "top", color: INK, fontSize: 15 } }],
  }, true);
}

function renderCharts(d) {
  const f = d.figures;
  // a city's catalogue has a dozen and more categories: the busiest ones today, readable
  const cats = f.orders.by_category.filter((c) => c.n > 0).sort((a, b) => b.n - a.n).slice(0, MAX_CATEGORIES);
  bars("chart-category", cats.map(named), cats.map((c) => c.n), { horizontal: true });
  const states = Object.entries(f.orders.by_state);
  bars("chart-state", states.map(([s]) => t(`os_${s}`)), states.map(([, n]) => n), { horizontal: true });
  const kinds = Object.entries(f.alarms.by_kind);
  bars("chart-kind", kinds.map(([k]) => t(`ak_${k}`)), kinds.map(([, n]) => n), { horizontal: true });
  const c = chart("chart-trend");
  if (!c) return;
  const days = d.trend.map((p) => p.day.slice(5));
  const line = (key, name) => ({ name, type: "line", symbolSize: 6, data: d.trend.map((p) => p[key]) });
  c.setOption({
    ...base(),
    legend: { top: 0, right: 8, textStyle: { color: INK, fontSize: 16 } },
    grid: { left: 12, right: 24, top: 40, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: days, axisLabel: { color: DIM, fontSize: 14 }, axisLine: { lineStyle: { color: GRID } } },
    yAxis: { type: "value", minInterval: 1, axisLabel: { color: DIM, fontSize: 14 }, splitLine: { lineStyle: { color: GRID } } },
    series: [line("calls", t("dash_calls")), line("alarms", t("dash_alarms")), line("orders", t("dash_orders"))],
  }, true);
  renderMap(d);
}

// ---------- the map: the child districts coloured by today's alarms ----------
// web/static/data/weihai.geojson: the four county-level outlines (simplified, GCJ-02). The
// development zones (371071-371073) have no outline: they are in the table only. Below a district
// (a district supervisor's towns) the district's own outline is drawn highlighted. Regions outside
// the region shown are grey. Colours are computed here (no visualMap) and the legend is HTML.

const MAP_NAME = `weihai-${cfg.lang}`;
const OUTSIDE = "#273341";
const OUTSIDE_LINE = "#3b4b5d";
const OWN = "#1c5a80";
const RAMP = ["#2b6f8f", "#d9a93f", "#e0524f"];   // 0 alarms .. the most; dashboard.css .ramp too

const outlines = fetch("/static/data/weihai.geojson", { credentials: "same-origin" })
  .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
  .then((doc) => {
    // ECharts names a region by properties.name and draws its label at properties.cp
    const features = doc.features.map((f) => ({
      ...f,
      properties: { ...f.properties, name: zh ? f.properties.name : f.properties.name_en || f.properties.name, cp: f.properties.label },
    }));
    if (window.echarts) window.echarts.registerMap(MAP_NAME, { type: "FeatureCollection", features });
    return features;
  })
  .catch(() => null);

const rgb = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));

function rampColour(x) {
  const s = Math.min(1, Math.max(0, x)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(s));
  const a = rgb(RAMP[i]);
  const b = rgb(RAMP[i + 1]);
  return `#${a.map((v, k) => Math.round(v + (b[k] - v) * (s - i)).toString(16).padStart(2, "0")).join("")}`;
}

function tip(title, f) {
  return [title,
          `${t("dash_calls")} ${fmtN(f.calls.total)}`,
          `${t("dash_alarms")} ${fmtN(f.alarms.total)}`,
          `${t("dash_orders")} ${fmtN(f.orders.total)}`,
          `${t("dash_pct_60s")} ${fmtPct(f.answer.pct_60s)}`].join("\n");
}

function area(name, code, fill, line, width, labelColour, extra) {
  return {
    name, code, ...extra,
    itemStyle: { areaColor: fill, borderColor: line, borderWidth: width },
    label: { color: labelColour },
    emphasis: { itemStyle: { areaColor: fill, borderColor: INK, borderWidth: Math.max(2, width) }, label: { color: INK } },
  };
}

async function renderMap(d) {
  const features = await outlines;
  const el = document.getElementById("chart-map");
  const legend = document.getElementById("map-legend");
  if (!features) { document.getElementById("map-note").textContent = t("dash_map_failed"); return; }
  const c = chart("chart-map");
  if (!c) return;
  const kids = new Map(d.children.map((k) => [k.code, k]));
  const drawn = features.filter((f) => kids.has(f.properties.code));
  // the region shown is the city (its children have outlines) or lies inside one district
  const own = drawn.length ? null : features.find((f) => f.properties.code === d.region.code.slice(0, 6));
  const most = Math.max(1, ...drawn.map((f) => kids.get(f.properties.code).figures.alarms.total));
  const data = features.map((f) => {
    const { code, name } = f.properties;
    const kid = kids.get(code);
    if (kid) {
      const n = kid.figures.alarms.total;
      return area(name, code, rampColour(n / most), "#0b1622", 1.5, INK,
                  { value: n, inScope: true, tip: tip(name, kid.figures) });
    }
    if (own && code === own.properties.code) {
      return area(name, code, OWN, PALETTE[0], 3, INK,
                  { value: d.figures.alarms.total, inScope: true, own: true, tip: tip(named(d.region), d.figures) });
    }
    return area(name, code, OUTSIDE, OUTSIDE_LINE, 1, DIM,
                { value: null, inScope: false, tip: `${name}\n${t("dash_map_outside")}` });
  });
  const view = own ? fitTo(features, own) : {};
  c.setOption({
    animation: false,
    textStyle: FONT,
    tooltip: { trigger: "item", renderMode: "richText", textStyle: { fontSize: 16 },
               formatter: (p) => (p.data && p.data.tip) || p.name },
    series: [{
      type: "map", map: MAP_NAME, roam: false, selectedMode: false, aspectScale: 0.8,
      top: 8, bottom: 30, left: 8, right: 8, ...view,   // bottom: room for the legend
      label: { show: true, fontSize: 17, fontWeight: "bold", color: INK, textBorderColor: "#0b1622", textBorderWidth: 3 },
      itemStyle: { areaColor: OUTSIDE, borderColor: OUTSIDE_LINE },
      data,
    }],
  }, true);
  legend.hidden = !drawn.length;
  document.getElementById("map-max").textContent = fmtN(most);
  el.dataset.drawn = d.generated_at;
}

// centre and zoom on one district: its bounding box fills most of the panel
function fitTo(features, feature) {
  const box = (fs) => {
    const pts = fs.flatMap((f) => f.geometry.type === "Polygon" ? f.geometry.coordinates.flat() : f.geometry.coordinates.flat(2));
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  };
  const all = box(features);
  const one = box([feature]);
  const zoom = 0.7 * Math.min((all[2] - all[0]) / (one[2] - one[0]), (all[3] - all[1]) / (one[3] - one[1]));
  return { center: [(one[0] + one[2]) / 2, (one[1] + one[3]) / 2], zoom: Math.max(1, zoom) };
}

window.addEventListener("resize", () => { for (const c of Object.values(state.charts)) c.resize(); });

// ---------- fetching, throttled ----------

function showError(text) {
  const el = document.getElementById("dash-error");
  el.textContent = text || "";
  el.hidden = !text;
}

async function load() {
  if (state.inflight) { state.again = true; return; }
  state.inflight = true;
  state.lastFetch = Date.now();
  try {
    const url = `/api/v1/dashboard?region=${encodeURIComponent(cfg.region.code)}`;
    const resp = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (resp.status === 401) { location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`; return; }
    const body = await resp.json().catch(() => null);
    if (!resp.ok || !body) { showError(`${t("dash_failed")} (${resp.status})`); return; }
    showError("");
    renderFigures(body);
  } catch {
    showError(t("dash_failed"));
  } finally {
    state.inflight = false;
    if (state.again) { state.again = false; soon(); }
  }
}

function soon() {
  if (state.timer) return;
  const wait = Math.max(0, state.lastFetch + THROTTLE_MS - Date.now());
  state.timer = setTimeout(() => { state.timer = null; load(); }, wait);
}

// ---------- the live channel ----------

function setConn(status) {
  const el = document.getElementById("dash-conn");
  el.className = `dash-conn ${status}`;
  el.textContent = t(`dash_${status}`);
  document.getElementById("dash-offline").hidden = status !== "reconnecting";
  root.dataset.live = status;
}

setInterval(soon, REFRESH_MS);

function start() {
  load();
  // a snapshot, a change, or a reconnect (whose replay may skip the state): fetch the figures
  liveChannel({
    onStatus: setConn,
    pingMs: PING_MS,
    onMessage: (msg) => {
      if (msg.type === "snapshot" || LIVE_TYPES.test(msg.type)) soon();
      // the care and settlement panels (dashboard_care.js) follow the same channel
      window.dispatchEvent(new CustomEvent("anxin-live", { detail: msg }));
    },
    onResumed: () => { soon(); window.dispatchEvent(new CustomEvent("anxin-live", { detail: { type: "resumed" } })); },
  });
}

// echarts.min.js is a deferred classic script: it has run before this module does
start();
