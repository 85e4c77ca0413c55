// The console map (SPEC §6, §7 "Offline"): open alarms, active orders, provider staff on shift and
// the elder on screen, over the bundled district outlines of Weihai (GCJ-02) — no tile server
// needed; ANXIN_MAP_TILE_URL adds tiles where a site has them. Alarms and orders follow the
// console's live channel (window "anxin-live"); staff come from /api/v1/map/staff every 30 s; the
// elder profile says which elder is on screen ("anxin-elder"). Clicks ask the console to open an
// alarm or order ("anxin-open-alarm" / "anxin-open-order"). Nothing here leaves this site.
import "/static/vendor/leaflet/leaflet.js"; // UMD build: defines window.L

const L = window.L;
const ALARM_OPEN = new Set(["received", "queued", "offered", "acknowledged", "in_progress"]);
const ALARM_WAITING = new Set(["received", "queued", "offered"]);
const ORDER_ACTIVE = new Set(["created", "queued", "offered", "accepted", "en_route", "on_site",
                              "no_candidate"]);
const STAFF_REFRESH_MS = 30_000;
const CITY = "371000";

const el = document.getElementById("map");
const configEl = document.getElementById("console-config");
if (el && configEl && L) start(JSON.parse(configEl.textContent));

function start(config) {
  const S = config.strings || {};
  const en = config.lang === "en";
  const t = (key, vars) => {
    let s = key in S ? S[key] : key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, String(v));
    return s;
  };
  const counts = document.getElementById("map-counts");
  const note = document.getElementById("map-note");

  const map = L.map(el, { zoomSnap: 0.25, zoomDelta: 0.5, minZoom: 6, maxZoom: 18,
                          attributionControl: true, worldCopyJump: false });
  map.attributionControl.setPrefix("Leaflet");
  map.setView([37.2, 121.95], 8);
  if (config.map_tile_url) {
    el.classList.add("has-tiles");
    L.tileLayer(config.map_tile_url, { maxZoom: 18 }).addTo(map);
  }

  const districts = L.layerGroup().addTo(map);
  const labels = L.layerGroup().addTo(map);
  const alarmLayer = L.layerGroup().addTo(map);
  const orderLayer = L.layerGroup().addTo(map);
  const staffLayer = L.layerGroup().addTo(map);
  const elderLayer = L.layerGroup().addTo(map);
  L.control.layers(null, {
    [t("map_alarms")]: alarmLayer, [t("map_orders")]: orderLayer,
    [t("map_staff")]: staffLayer, [t("map_elder")]: elderLayer, [t("map_districts")]: labels,
  }, { collapsed: true, position: "topright" }).addTo(map);

  // a "whole city / my district" button
  const Fit = L.Control.extend({
    onAdd() {
      const b = L.DomUtil.create("button", "map-fit");
      b.type = "button";
      b.textContent = t("map_fit");
      b.title = t("map_fit_help");
      L.DomEvent.disableClickPropagation(b);
      L.DomEvent.on(b, "click", () => fitHome());
      return b;
    },
  });
  new Fit({ position: "topleft" }).addTo(map);

  const anchors = new Map(); // region code (district level) -> [lat, lon] GCJ-02
  let home = null; // bounds of the user's district, or the city

  function fitHome() {
    if (!home) return;
    // Leaflet drops a view change asked for during a zoom animation: wait for its end
    if (map._animatingZoom) { map.once("zoomend", fitHome); return; }
    map.fitBounds(home, { padding: [6, 6], animate: false });
  }

  // --- districts ------------------------------------------------------------------------------
  fetch("/static/data/weihai.geojson", { credentials: "same-origin" })
    .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
    .then(drawDistricts)
    .catch(() => { note.textContent = t("map_failed"); });

  function drawDistricts(doc) {
    const mine = (config.user && config.user.region_code || "").slice(0, 6);
    const layer = L.geoJSON(doc, {
      style: (f) => ({
        className: `district d-${f.properties.code}` + (f.properties.code === mine ? " mine" : ""),
        color: f.properties.code === mine ? "#1f5f99" : "#7f8c99",
        weight: f.properties.code === mine ? 2.2 : 1.2,
        fillColor: "#f7f4ea", fillOpacity: config.map_tile_url ? 0.05 : 1,
      }),
      interactive: false,
    }).addTo(districts);
    for (const [code, lonLat] of Object.entries(doc.anchors || {})) anchors.set(code, [lonLat[1], lonLat[0]]);
    for (const f of doc.features) {
      const p = f.properties;
      anchors.set(p.code, [p.label[1], p.label[0]]);
      const span = document.createElement("span");
      span.textContent = en && p.name_en ? p.name_en : p.name;
      span.dataset.code = p.code;
      L.marker([p.label[1], p.label[0]], {
        icon: L.divIcon({ className: "map-label", html: span, iconSize: null }),
        interactive: false, keyboard: false,
      }).addTo(labels);
    }
    const own = layer.getLayers().find((l) => l.feature.properties.code === mine);
    home = own ? own.getBounds() : layer.getBounds();
    map.invalidateSize();
    fitHome();
    redrawAll();
    note.textContent = t("map_outline_note");
  }

  // --- where things go ------------------------------------------------------------------------
  // A point in GCJ-02 from a card's location, else near its region's centre (marked approximate;
  // spread by id so several alarms of one district do not hide each other).
  function place(loc, regionCode, id) {
    if (loc && loc.lat_gcj02 != null && loc.lon_gcj02 != null) {
      return { at: [loc.lat_gcj02, loc.lon_gcj02], approx: false };
    }
    const code = String(regionCode || "");
    const base = anchors.get(code.slice(0, 6)) || anchors.get(CITY);
    if (!base) return null;
    const angle = (id * 137.5) % 360 * Math.PI / 180;
    const r = 0.012 + (id % 5) * 0.004;
    return { at: [base[0] + r * Math.sin(angle), base[1] + r * 1.25 * Math.cos(angle)], approx: true };
  }

  function tip(lines) {
    const box = document.createElement("div");
    lines.filter(Boolean).forEach((line, i) => {
      const row = document.createElement(i === 0 ? "strong" : "div");
      row.textContent = line;
      box.append(row);
    });
    return box;
  }

  function marker(kind, at, classes, text, label, z) {
    const span = document.createElement("span");
    span.className = `pin ${classes}`;
    span.textContent = text;
    const icon = L.divIcon({ className: `map-pin map-${kind} ${classes}`, html: span,
                             iconSize: [22, 22], iconAnchor: [11, 11], tooltipAnchor: [10, 0] });
    return L.marker(at, { icon, title: label, alt: label, riseOnHover: true, zIndexOffset: z || 0 });
  }

  // --- alarms and orders from the live channel ------------------------------------------------
  const alarms = new Map(); // id -> card
  const orders = new Map();
  const alarmMarks = new Map(); // id -> marker
  const orderMarks = new Map();

  function alarmLabel(a) {
    const kind = t(`ak_${a.kind}`);
    const who = a.elder ? a.elder.name : (a.device ? a.device.serial : "");
    return `${t("map_alarm_no")} #${a.id} · ${kind} · ${who}`;
  }

  function drawAlarm(a) {
    const old = alarmMarks.get(a.id);
    if (old) { alarmLayer.removeLayer(old); alarmMarks.delete(a.id); }
    if (!ALARM_OPEN.has(a.state)) return;
    // where the device reported, else the elder's home, else near the district's label
    const where = place(a.location || (a.elder && a.elder.home), a.region_code, a.id);
    if (!where) return;
    const label = alarmLabel(a);
    const classes = [`p${a.priority}`, `s-${a.state}`, ALARM_WAITING.has(a.state) ? "waiting" : "",
                     where.approx ? "approx" : ""].join(" ");
    const m = marker("alarm", where.at, classes, "!", label, 1000 - a.priority * 10);
    m.bindTooltip(tip([label, `${t("map_priority")} P${a.priority} · ${t(`as_${a.state}`)}`,
                       a.region_name, where.approx ? t("map_approx") : "", t("map_open_alarm")]),
                  { direction: "top" });
    m.on("click", () => window.dispatchEvent(new CustomEvent("anxin-open-alarm", { detail: { id: a.id } })));
    m.on("add", () => { const e = m.getElement(); if (e) e.dataset.alarmId = a.id; });
    alarmMarks.set(a.id, m);
    alarmLayer.addLayer(m);
  }

  function orderLabel(o) {
    const item = en ? (o.item.name_en || o.item.name) : o.item.name;
    return `${t("map_order_no")} #${o.id} · ${item} · ${o.elder ? o.elder.name : ""}`;
  }

  function drawOrder(o) {
    const old = orderMarks.get(o.id);
    if (old) { orderLayer.removeLayer(old); orderMarks.delete(o.id); }
    if (!ORDER_ACTIVE.has(o.state)) return;
    const where = place(o.elder && o.elder.location, o.region_code, o.id + 0.5);
    if (!where) return;
    const label = orderLabel(o);
    const state = en ? o.state_label_en : o.state_label;
    const m = marker("order", where.at, `o-${o.state}` + (where.approx ? " approx" : ""), "", label, 0);
    m.bindTooltip(tip([label, state, o.staff ? o.staff.name : "", o.region_name,
                       where.approx ? t("map_approx") : "", t("map_open_order")]), { direction: "top" });
    m.on("click", () => window.dispatchEvent(new CustomEvent("anxin-open-order", { detail: { id: o.id } })));
    m.on("add", () => { const e = m.getElement(); if (e) e.dataset.orderId = o.id; });
    orderMarks.set(o.id, m);
    orderLayer.addLayer(m);
  }

  function redrawAll() {
    for (const a of alarms.values()) drawAlarm(a);
    for (const o of orders.values()) drawOrder(o);
    showCounts();
  }

  function showCounts() {
    counts.textContent = t("map_counts", { a: alarmMarks.size, o: orderMarks.size, s: staffCount });
  }

  function apply(msg) {
    if (!msg || !msg.type) return;
    const data = msg.data || {};
    if (msg.type === "snapshot") {
      alarms.clear(); orders.clear();
      alarmLayer.clearLayers(); orderLayer.clearLayers(); alarmMarks.clear(); orderMarks.clear();
      for (const a of data.alarms || []) alarms.set(a.id, a);
      for (const o of data.orders || []) orders.set(o.id, o);
      redrawAll();
      return;
    }
    if (msg.type.startsWith("alarm.") && data.alarm) {
      const a = data.alarm;
      if (ALARM_OPEN.has(a.state)) alarms.set(a.id, a); else alarms.delete(a.id);
      drawAlarm(a);
      showCounts();
    } else if (msg.type.startsWith("order.") && data.order) {
      const o = data.order;
      if (ORDER_ACTIVE.has(o.state)) orders.set(o.id, o); else orders.delete(o.id);
      drawOrder(o);
      showCounts();
    }
  }
  window.addEventListener("anxin-live", (ev) => apply(ev.detail));

  // --- staff on shift -------------------------------------------------------------------------
  let staffCount = 0;
  let staffTimer = null;

  function fmtTime(iso) {
    if (!iso) return "";
    try {
      return new Date(iso).toLocaleTimeString(en ? "en-GB" : "zh-CN",
                                              { timeZone: config.tz, hour: "2-digit", minute: "2-digit" });
    } catch { return ""; }
  }

  async function loadStaff() {
    clearTimeout(staffTimer);
    try {
      const r = await fetch("/api/v1/map/staff", { credentials: "same-origin",
                                                  headers: { Accept: "application/json" } });
      if (!r.ok) throw new Error(String(r.status));
      const body = await r.json();
      staffLayer.clearLayers();
      let noFix = 0;
      for (const s of body.items || []) {
        if (!s.location) { noFix += 1; continue; }
        const at = [s.location.lat_gcj02, s.location.lon_gcj02];
        const cm = L.circleMarker(at, { radius: 5, weight: 1.5, color: "#fff", fillColor: "#1e8449",
                                        fillOpacity: 0.95, className: "map-staff" });
        cm.bindTooltip(tip([s.name, `${t("map_provider")}: ${s.provider_name}`,
                            `${t("map_load")}: ${s.load}/${s.capacity}`,
                            `${t("map_located_at")}: ${fmtTime(s.location.at)}`]), { direction: "top" });
        staffLayer.addLayer(cm);
      }
      staffCount = (body.items || []).length - noFix;
      const notes = [t("map_outline_note")];
      if (noFix) notes.push(t("map_staff_no_fix", { n: noFix }));
      if (body.truncated) notes.push(t("map_staff_truncated", { n: (body.items || []).length }));
      note.textContent = notes.join(" · ");
      showCounts();
    } catch {
      note.textContent = t("map_staff_failed");
    }
    staffTimer = setTimeout(loadStaff, STAFF_REFRESH_MS);
  }
  loadStaff();

  // --- the elder on screen --------------------------------------------------------------------
  window.addEventListener("anxin-elder", (ev) => {
    const e = ev.detail;
    elderLayer.clearLayers();
    if (!e || e.lat_gcj02 == null || e.lon_gcj02 == null) return;
    const at = [e.lat_gcj02, e.lon_gcj02];
    const label = `${t("map_elder_here")}: ${e.name || ""}`;
    L.circleMarker(at, { radius: 16, weight: 3, color: "#8e44ad", fill: false, interactive: false,
                         className: "map-elder-ring" }).addTo(elderLayer);
    const m = marker("elder", at, "elder", "", label, 2000);
    m.bindTooltip(tip([e.name, t("map_elder_here")]), { direction: "top", permanent: true,
                                                         className: "map-elder-tip" });
    m.on("add", () => { const x = m.getElement(); if (x) x.dataset.elderId = e.id; });
    elderLayer.addLayer(m);
    map.setView(at, Math.max(map.getZoom(), 11), { animate: false });
  });

  // the side column may change size (the console reflows): keep the map filling its box
  if ("ResizeObserver" in window) new ResizeObserver(() => map.invalidateSize()).observe(el);
}
