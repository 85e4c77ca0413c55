// The console's elder search and profile (issue 6): find an elder by name, phone or ID number,
// see the record an operator needs on the phone (masked ID, age, risk groups, address, devices
// with their last heartbeat and battery, contacts) and the whole history on one timeline, and
// start an order from it. Opening a profile tells the map which elder is on screen.

import { hoursMinutes } from "./common.js";

let X = null;  // helpers from console.js: { api, h, t, dateTime, phone, errorText, riskLabel, ... }
let dlg, box, list, input;
let timer = null;
let seq = 0;
let current = null;

const HEARTBEAT_STALE_MS = 26 * 3600 * 1000;

function ago(value) {
  const d = X.parseTime(value);
  if (!d) return X.t("prof_never");
  const s = Math.max(0, Math.round((X.serverNow() - d.getTime()) / 1000));
  if (s < 60) return X.t("prof_just_now");
  if (s < 3600) return `${Math.floor(s / 60)} ${X.t("prof_min_ago")}`;
  if (s < 86400) return `${Math.floor(s / 3600)} ${X.t("prof_h_ago")}`;
  return `${Math.floor(s / 86400)} ${X.t("prof_d_ago")}`;
}

async function search() {
  const q = input.value.trim();
  if (!q) { hideList(); return; }
  const mine = ++seq;
  const r = await X.api("GET", `/api/v1/elders?q=${encodeURIComponent(q)}&limit=8`);
  if (mine !== seq) return;
  const { h, t } = X;
  if (!r.ok) {
    list.replaceChildren(h("li", { class: "muted", role: "option", "aria-disabled": "true" }, X.errorText(r)));
  } else {
    const items = r.body.items || [];
    list.replaceChildren(...(items.length ? items.map((e, i) => h("li", { role: "option", id: `ep-hit-${i}` },
      h("button", { type: "button", class: "ep-hit", "data-elder-id": e.id, onclick: () => open(e) },
        h("strong", {}, e.name),
        h("span", { class: "muted" }, [e.age !== null && e.age !== undefined ? `${e.age}${t("years")}` : "",
          e.id_number, (e.phones || []).map(X.phone).join(" / "), e.region_name].filter(Boolean).join(" · ")))))
      : [h("li", { class: "muted", role: "option", "aria-disabled": "true" }, t("ord_no_match"))]));
  }
  list.hidden = false;
  input.setAttribute("aria-expanded", "true");
}

function hideList() {
  list.hidden = true;
  list.replaceChildren();
  input.setAttribute("aria-expanded", "false");
}

function fact(dl, key, value) {
  if (value === null || value === undefined || value === "") return;
  dl.append(X.h("dt", {}, key), X.h("dd", {}, value));
}

function deviceRow(d) {
  const { h, t } = X;
  const last = X.parseTime(d.last_heartbeat_at);
  const stale = !last || X.serverNow() - last.getTime() > HEARTBEAT_STALE_MS;
  const low = d.battery !== null && d.battery !== undefined && d.battery < 20;
  return h("tr", { class: d.status !== "active" ? "muted" : "" },
    h("td", {}, t(`kind_${d.kind}`)),
    h("td", { class: "mono" }, d.serial),
    h("td", { class: stale ? "warn" : "", title: last ? X.dateTime(d.last_heartbeat_at) : "" }, ago(d.last_heartbeat_at)),
    h("td", { class: low ? "warn" : "" }, d.battery === null || d.battery === undefined ? "—" : `${d.battery}%`),
    h("td", {}, t(`dstat_${d.status}`)));
}

function entryRow(e) {
  const { h, t } = X;
  let title, detail = "";
  if (e.type === "call") {
    title = t("prof_call");
    detail = [X.phone(e.ani), t(`call_${e.state}`), e.who ? `${t("con_answered_by")} ${e.who}` : ""].filter(Boolean).join(" · ");
  } else if (e.type === "alarm") {
    title = `${t("prof_alarm")} · ${t(`ak_${e.kind}`)}`;
    detail = [t(`as_${e.state}`), e.who || ""].filter(Boolean).join(" · ");
  } else if (e.type === "order") {
    title = `${t("prof_order")} #${e.id} · ${X.itemName(e.item)}`;
    detail = [t(`os_${e.state}`), e.who || "", e.reason || ""].filter(Boolean).join(" · ");
  } else {
    title = `${t("prof_visit")} · ${X.itemName(e.item)}`;
    const mins = e.duration_s === null || e.duration_s === undefined ? null : Math.round(e.duration_s / 60);
    detail = [e.who || "", mins === null ? t("prof_on_site_now") : `${mins} ${t("ord_min")}`, e.note || ""]
      .filter(Boolean).join(" · ");
  }
  const open = e.type === "alarm" ? () => window.dispatchEvent(new CustomEvent("anxin-open-alarm", { detail: { id: e.id } }))
    : (e.type === "order" || e.type === "visit")
      ? () => window.dispatchEvent(new CustomEvent("anxin-open-order", { detail: { id: e.type === "visit" ? e.order_id : e.id } }))
      : null;
  return h("li", { class: `tl-${e.type}` },
    h("time", { datetime: e.at }, X.dateTime(e.at)),
    open ? h("button", { type: "button", class: "link tl-title", onclick: open }, title) : h("strong", { class: "tl-title" }, title),
    detail ? h("span", { class: "muted" }, ` ${detail}`) : null);
}

async function open(summary) {
  hideList();
  const { h, t } = X;
  current = summary;
  box.replaceChildren(h("p", { class: "muted" }, t("con_loading")));
  dlg.querySelector(".ep-title").textContent = summary.name;
  if (!dlg.open) dlg.showModal();
  const [rec, hist, sub] = await Promise.all([
    X.api("GET", `/api/v1/elders/${summary.id}`),
    X.api("GET", `/api/v1/elders/${summary.id}/history`),
    X.api("GET", `/api/v1/elders/${summary.id}/subsidy`),
  ]);
  if (current !== summary) return;
  if (!rec.ok) { box.replaceChildren(h("p", { class: "error", role: "alert" }, X.errorText(rec))); return; }
  const e = rec.body;
  window.dispatchEvent(new CustomEvent("anxin-elder", {
    detail: { id: e.id, name: e.name, lat_gcj02: e.lat_gcj02, lon_gcj02: e.lon_gcj02 } }));
  const head = h("div", { class: "ep-head" },
    h("span", { class: "ep-age" }, [e.age !== null && e.age !== undefined ? `${e.age}${t("years")}` : "", e.sex ? t(e.sex) : ""].filter(Boolean).join(" · ")),
    h("span", { class: "mono", title: t("con_id_masked") }, summary.id_number),
    e.status && e.status !== "active" ? h("span", { class: "tag warn" }, t(`status_${e.status}`)) : null,
    ...(e.risk_groups || []).map((g) => h("span", { class: "tag" }, X.riskLabel(g))));
  const facts = h("dl", { class: "facts" });
  fact(facts, t("address"), e.address);
  fact(facts, t("region"), e.region_name);
  fact(facts, t("phones"), (e.phones || []).map(X.phone).join(" / "));
  fact(facts, t("care_level"), e.care_level);
  fact(facts, t("medical_notes"), e.medical_notes);
  if (sub.ok && sub.body.eligible) {  // subsidised hours: what is left of this month's budget
    fact(facts, t("prof_subsidy_left"),
      `${hoursMinutes(sub.body.left_min, t)} / ${hoursMinutes(sub.body.budget_min, t)}`);
  }
  const devices = (e.devices || []).length
    ? h("table", { class: "ep-devices" },
      h("thead", {}, h("tr", {}, ...["kind", "serial", "prof_last_heartbeat", "prof_battery", "prof_status"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, ...e.devices.map(deviceRow)))
    : h("p", { class: "muted" }, t("con_none"));
  const contacts = (e.contacts || []).length
    ? h("ol", { class: "contacts" }, ...e.contacts.map((c) => h("li", {}, `${c.name} `,
      h("span", { class: "muted" }, c.relation || ""), " ", h("a", { href: `tel:${c.phone}` }, X.phone(c.phone)))))
    : h("p", { class: "muted" }, t("con_none"));
  const items = hist.ok ? hist.body.items || [] : [];
  const timeline = hist.ok
    ? (items.length ? h("ol", { class: "timeline ep-timeline" }, ...items.map(entryRow)) : h("p", { class: "muted" }, t("prof_no_history")))
    : h("p", { class: "error" }, X.errorText(hist));
  const actions = h("div", { class: "ep-actions" },
    X.cfg.can_order && e.status === "active" ? h("button", { type: "button", class: "primary ep-new-order", onclick: () => {
      dlg.close();
      X.openNewOrder({ ...summary, ...e, id_number: summary.id_number }, null);
    } }, `＋ ${t("ord_new")}`) : null,
    h("a", { href: `/elders/${e.id}`, class: "button" }, t("prof_full_record")));
  box.replaceChildren(head, actions,
    h("div", { class: "ep-cols" },
      h("section", {}, facts, h("h3", {}, t("devices")), devices, h("h3", {}, t("contacts")), contacts),
      h("section", {}, h("h3", {}, `${t("prof_history")} (${items.length})`), timeline)));
}

export function focusSearch() {
  input.focus();
  input.select();
}

export function openProfile(summary) {
  return open(summary);
}

export function initProfile(helpers) {
  X = helpers;
  dlg = document.getElementById("elder-dialog");
  box = dlg.querySelector(".ep-body");
  list = document.getElementById("elder-hits");
  input = document.getElementById("elder-q");
  const form = document.getElementById("elder-search");
  form.addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(timer); search(); });
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 250); });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { hideList(); input.blur(); }
    if (ev.key === "ArrowDown") {
      const first = list.querySelector("button");
      if (first) { ev.preventDefault(); first.focus(); }
    }
  });
  list.addEventListener("keydown", (ev) => {
    const buttons = [...list.querySelectorAll("button")];
    const i = buttons.indexOf(document.activeElement);
    if (ev.key === "ArrowDown" && i < buttons.length - 1) { ev.preventDefault(); buttons[i + 1].focus(); }
    if (ev.key === "ArrowUp") { ev.preventDefault(); (i > 0 ? buttons[i - 1] : input).focus(); }
    if (ev.key === "Escape") { hideList(); input.focus(); }
  });
  document.addEventListener("click", (ev) => {
    if (!list.hidden && !form.contains(ev.target)) hideList();
  });
  dlg.querySelector("[data-dismiss]").addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => { current = null; });
}
