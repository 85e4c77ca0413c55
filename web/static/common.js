// Helpers shared by the console and the provider phone page: building elements, reading the
// server's times, showing phone numbers, and JSON calls that send the CSRF header and keep the
// browser's clock in step with the server's.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || ATTRIBUTES.has(k)) el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const ATTRIBUTES = new Set(["role", "type", "datetime", "value", "name", "href", "rows", "maxlength",
  "placeholder", "for", "id", "title"]);

export function parseTime(value) {
  if (!value) return null;
  // the server writes Python's str(datetime): "2026-01-02 08:00:00.123456+00:00"
  const iso = String(value).trim().replace(" ", "T").replace(/(\.\d{3})\d+/, "$1");
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function phone(e164) {
  if (!e164) return "";
  const n = String(e164).replace(/^\+86/, "");
  if (/^1\d{10}$/.test(n)) return `${n.slice(0, 3)} ${n.slice(3, 7)} ${n.slice(7)}`;
  if (/^[2-9]\d{8,10}$/.test(n)) {  // landline: 0 + area code (2 digits for 010/02x, else 3)
    const area = /^(10|2\d)/.test(n) ? 2 : 3;
    return `0${n.slice(0, area)} ${n.slice(area, area + 4)} ${n.slice(area + 4)}`.trim();
  }
  return String(e164);
}

// The server's clock minus this browser's, learnt from each answer's Date header.
export const serverClock = {
  offsetMs: 0,
  now() { return Date.now() + this.offsetMs; },
};

// fetch() for the JSON API: {ok, status, body}; a 401 goes to the login page.
export function makeApi(csrf, failedText) {
  return async function api(method, url, body, headers) {
    const opts = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
    if (method !== "GET") {
      opts.headers["X-CSRF-Token"] = csrf;
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body || {});
    }
    let resp;
    try {
      resp = await fetch(url, opts);
    } catch (err) {
      return { ok: false, status: 0, body: { message: `${failedText}: ${err.message || err}` } };
    }
    if (resp.status === 401) {
      location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    const serverDate = Date.parse(resp.headers.get("Date") || "");
    if (!Number.isNaN(serverDate)) {
      const offset = serverDate - Date.now();
      serverClock.offsetMs = Math.abs(offset) > 2000 ? offset : 0;  // Date has 1 s resolution
    }
    let data = {};
    try { data = await resp.json(); } catch { data = {}; }
    return { ok: resp.ok, status: resp.status, body: data };
  };
}

/**
 * What a panel of the console (the outbound care list, the follow-up calls) takes from the page:
 * the console's JSON config, its strings (`t`, and `fill` for "{name}" slots), the JSON API with
 * the page's CSRF token, and a Shanghai-time "MM-DD HH:MM" formatter (`when`).
 */
export function consolePanel() {
  const cfg = JSON.parse(document.getElementById("console-config").textContent);
  const S = cfg.strings;
  const t = (key) => (key in S ? S[key] : key);
  const locale = cfg.lang === "en" ? "en-GB" : "zh-CN";
  const api = makeApi(document.getElementById("console").dataset.csrf, t("con_failed"));
  const timeFmt = new Intl.DateTimeFormat(locale, {
    timeZone: cfg.tz, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  return {
    cfg, S, t, api,
    errorText: (r) => errorText(r, t("con_failed")),
    when: (v) => { const d = parseTime(v); return d ? timeFmt.format(d) : "—"; },
    fill: (key, vars) => Object.entries(vars).reduce((s, [k, v]) => s.replaceAll(`{${k}}`, v), t(key)),
  };
}

/** Minutes as hours and minutes ("38小时29分" / "38 h 29 min"), exact: a subsidy budget
 * goes down by the minute. `t` gives the "prof_h" and "prof_hm" templates. */
export function hoursMinutes(min, t) {
  const total = Math.max(0, Math.round(min));
  const hh = Math.floor(total / 60), mm = total % 60;
  const text = t(mm ? "prof_hm" : "prof_h");
  return text.replace("{h}", String(hh)).replace("{m}", String(mm));
}

// What to tell the person about a failed call: the server's message, else the fields.
export function errorText(r, failedText) {
  const b = r.body || {};
  if (b.message) return b.message;
  if (b.fields) return Object.entries(b.fields).map(([k, v]) => `${k}: ${v}`).join("; ");
  return `${failedText} (${r.status})`;
}

function seqAfter(a, b) {
  const [am, an] = String(a).split("-").map(Number);
  const [bm, bn] = String(b).split("-").map(Number);
  return am > bm || (am === bm && (an || 0) > (bn || 0));
}

/**
 * The live channel (/ws/console), shared by the console, the provider page and the dashboard:
 * a snapshot, then {seq, type, region, data}. It reconnects with backoff and ?last_seq=, so the
 * server replays what was missed; `onMessage` gets each message once, in order (a replayed
 * duplicate is dropped; pong and error frames are not passed on). `onStatus` gets
 * "connecting" | "connected" | "reconnecting"; `onResumed` runs when a reconnect succeeds.
 * Returns { reconnectNow } (e.g. when a phone comes back online).
 */
export function liveChannel({ onMessage, onStatus, onResumed = () => {}, pingMs = 25_000 }) {
  const live = { ws: null, retry: 0, lastSeq: null, timer: null };

  function connect() {
    live.timer = null;
    onStatus(live.retry ? "reconnecting" : "connecting");
    const url = new URL("/ws/console", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (live.lastSeq) url.searchParams.set("last_seq", live.lastSeq);
    const ws = new WebSocket(url);
    live.ws = ws;
    ws.addEventListener("open", () => {
      const again = live.retry > 0;
      live.retry = 0;
      onStatus("connected");
      if (again) onResumed();
    });
    ws.addEventListener("message", (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || !msg.type || msg.type === "pong" || msg.type === "error") return;
      if (msg.type === "snapshot") live.lastSeq = msg.seq || live.lastSeq;
      else if (msg.seq) {
        if (live.lastSeq && !seqAfter(msg.seq, live.lastSeq)) return;  // already applied
        live.lastSeq = msg.seq;
      }
      onMessage(msg);
    });
    ws.addEventListener("close", () => {
      if (live.ws !== ws) return;
      live.ws = null;
      live.retry += 1;
      onStatus("reconnecting");
      const delay = Math.min(10_000, 500 * 2 ** Math.min(live.retry - 1, 5)) * (0.75 + Math.random() * 0.5);
      live.timer = setTimeout(connect, delay);
    });
  }

  setInterval(() => {
    if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ type: "ping" }));
  }, pingMs);
  connect();
  return {
    reconnectNow() {
      if (live.ws || !live.timer) return;
      clearTimeout(live.timer);
      connect();
    },
  };
}
