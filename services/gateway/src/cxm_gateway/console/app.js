// cxm console: a reference client of the public API. No build step, no dependencies; charts are hand-drawn SVG.
// Every call carries the API key (kept in sessionStorage); every text from the API is inserted as text, never HTML.

const KEY_STORAGE = "cxm.apiKey";
const STATUSES = ["open", "acknowledged", "in_progress", "resolved", "verified", "wont_fix"];
const STAGE_ORDER = ["awareness", "consideration", "purchase", "onboarding", "usage", "support", "billing", "renewal", "churned"];
const LIVE_EVENTS = {
  "insight.alert.raised.v1": (d) => `New alert: ${label(d.kind)} in ${label(d.key)}`,
  "actions.action.created.v1": (d) => `New ${label(d.kind)} item: ${d.title || ""}`,
  "actions.action.transitioned.v1": (d) => `Item moved to ${label(d.to)}`,
  "actions.action.sla_breached.v1": () => "An item breached its SLA",
  "actions.impact.measured.v1": () => "Impact measured on a resolved improvement",
  "journey.friction.detected.v1": (d) => `Friction detected at ${label(d.key)}`,
};

const state = { key: sessionStorage.getItem(KEY_STORAGE), days: 90, stream: null, liveCount: 0, refresh: null };
const main = document.getElementById("main");

// --- helpers ---------------------------------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function label(value) {
  return String(value ?? "").replaceAll("_", " ");
}

function num(value, digits = 1) {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : Number(value).toFixed(digits);
}

function int(value) {
  return value === null || value === undefined ? "–" : Math.round(value).toLocaleString("en-US");
}

function pct(value, digits = 0) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(digits)}%`;
}

function money(value) {
  return value === null || value === undefined ? "–" : Math.round(value).toLocaleString("en-US");
}

function day(iso) {
  return iso ? new Date(iso).toLocaleDateString("en-GB", { day: "2-digit", month: "short", timeZone: "UTC" }) : "–";
}

function when(iso) {
  return iso ? new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "–";
}

function signClass(value) {
  return value > 0 ? "pos" : value < 0 ? "neg" : "";
}

function period() {
  const to = new Date();
  const from = new Date(to.getTime() - state.days * 86400_000);
  return { from: from.toISOString(), to: to.toISOString() };
}

function isUuid(text) {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text);
}

// --- the API ---------------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path, { method = "GET", params = null, body = undefined } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
  const headers = { Authorization: `Bearer ${state.key}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    signOut("The API key was refused. Sign in again.");
    throw new ApiError(401, "unauthorized");
  }
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, data?.detail || data?.title || response.statusText);
  return data;
}

async function allPages(path, params, field = "items", max = 4000) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(path, { params: { ...params, limit: 500, cursor } });
    items.push(...(page[field] || []));
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

// --- sign-in, navigation and live updates ---------------------------------------------------------------------------

function signOut(message = "") {
  sessionStorage.removeItem(KEY_STORAGE);
  state.key = null;
  stopLive();
  renderSignIn(message);
}

function renderSignIn(message = "") {
  document.getElementById("nav").hidden = true;
  document.getElementById("tools").hidden = true;
  const input = h("input", { type: "password", id: "api-key", name: "api-key", autocomplete: "off", required: true, spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert", id: "signin-error" }, message);
  const form = h(
    "form",
    { class: "signin", "data-test": "signin" },
    h("h1", {}, "Sign in"),
    h("p", { class: "sub" }, "Use an API key of your tenant (from `cxm tenant create` or `cxm demo`). It stays in this tab only."),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("p", {}, h("button", { type: "submit", class: "primary" }, "Sign in")),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    state.key = input.value.trim();
    try {
      await api("/v1/insights/alerts", { params: { limit: 1 } });
    } catch (exc) {
      state.key = null;
      error.textContent = exc.status === 401 ? "That key was refused." : `Could not sign in: ${exc.message}`;
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, state.key);
    start();
  });
  main.replaceChildren(form);
  input.focus();
}

function start() {
  document.getElementById("nav").hidden = false;
  document.getElementById("tools").hidden = false;
  if (!location.hash || location.hash === "#") location.hash = "#/overview";
  startLive();
  refreshAlertBadge();
  route();
}

const VIEWS = { overview, themes, drivers, journey, actions, customer };

async function route() {
  if (!state.key) return renderSignIn();
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const view = VIEWS[name] || overview;
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${name || "overview"}`);
    if (link.hasAttribute("aria-current")) link.setAttribute("aria-current", "page");
  }
  const { from, to } = period();
  main.dataset.view = name || "overview";
  main.dataset.from = from;
  main.dataset.to = to;
  main.dataset.ready = "false";
  main.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  try {
    const content = await view({ from, to }, rest.map(decodeURIComponent));
    if (main.dataset.from !== from) return; // a newer render replaced this one
    main.replaceChildren(...[content].flat().filter((x) => x !== null && x !== undefined && x !== false));
  } catch (exc) {
    if (exc.status === 401) return;
    main.replaceChildren(h("p", { class: "error", role: "alert", "data-test": "view-error" }, `Could not load this view: ${exc.message}`));
  }
  main.dataset.ready = "true";
}

function startLive() {
  stopLive();
  const open = async () => {
    try {
      const { token } = await api("/v1/stream/tokens", { method: "POST" });
      const source = new EventSource(`/v1/stream?token=${encodeURIComponent(token)}`);
      state.stream = source;
      source.onopen = () => setLive("on");
      // A token is short-lived: on any error, start again with a fresh one rather than let EventSource reuse it.
      source.onerror = () => {
        source.close();
        setLive("off");
        if (state.stream === source) state.stream = setTimeout(open, 3000);
      };
      for (const [type, describe] of Object.entries(LIVE_EVENTS)) {
        source.addEventListener(type, (event) => onLive(type, describe, event));
      }
    } catch (exc) {
      setLive("off");
      if (state.key) state.stream = setTimeout(open, 5000);
    }
  };
  open();
}

function stopLive() {
  if (state.stream instanceof EventSource) state.stream.close();
  else if (state.stream) clearTimeout(state.stream);
  state.stream = null;
  setLive("off");
}

function setLive(mode) {
  const el = document.getElementById("live");
  el.dataset.state = mode;
  el.textContent = mode === "on" ? `live${state.liveCount ? ` (${state.liveCount})` : ""}` : "live: off";
}

function onLive(type, describe, event) {
  let data = {};
  try {
    data = JSON.parse(event.data);
    data = data.data || data;
  } catch {
    /* a frame we cannot read is still an event */
  }
  state.liveCount += 1;
  setLive("on");
  toast(describe(data));
  if (type === "insight.alert.raised.v1") refreshAlertBadge();
  const view = main.dataset.view;
  const relevant = (type.startsWith("insight.alert") && view === "themes") || (type.startsWith("actions.") && view === "actions");
  if (relevant) {
    clearTimeout(state.refresh);
    state.refresh = setTimeout(route, 1500);
  }
}

function toast(text) {
  const box = document.getElementById("toasts");
  const el = h("div", { class: "toast" }, text);
  box.append(el);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => el.remove(), 8000);
}

async function refreshAlertBadge() {
  try {
    const { alerts } = await api("/v1/insights/alerts", { params: { status: "open", limit: 100 } });
    const badge = document.getElementById("alert-badge");
    badge.hidden = alerts.length === 0;
    badge.textContent = String(alerts.length);
    badge.setAttribute("aria-label", `${alerts.length} open alerts`);
  } catch {
    /* the badge is a hint only */
  }
}

// --- charts ----------------------------------------------------------------------------------------------------------

function lineChart(points, { title, format = (v) => num(v), height = 180, band = null, showN = true } = {}) {
  const width = 560;
  const pad = { l: 44, r: 12, t: 12, b: 34 };
  const values = points.filter((p) => p.value !== null && p.value !== undefined);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  if (!values.length) {
    svg.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no answers in this period"));
    return svg;
  }
  let lo = Math.min(...values.map((p) => p.value));
  let hi = Math.max(...values.map((p) => p.value));
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  const span = hi - lo;
  lo -= span * 0.1;
  hi += span * 0.1;
  const x = (i) => pad.l + (points.length === 1 ? (width - pad.l - pad.r) / 2 : (i * (width - pad.l - pad.r)) / (points.length - 1));
  const y = (v) => pad.t + ((hi - v) * (height - pad.t - pad.b)) / (hi - lo);
  if (band) {
    const [a, b] = band;
    svg.append(s("rect", { class: "band", x: x(a) - 4, y: pad.t, width: Math.max(8, x(b) - x(a) + 8), height: height - pad.t - pad.b }));
  }
  for (const t of [lo + (hi - lo) * 0.1, (lo + hi) / 2, hi - (hi - lo) * 0.1]) {
    svg.append(s("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: y(t), y2: y(t) }));
    svg.append(s("text", { x: pad.l - 6, y: y(t) + 4, "text-anchor": "end" }, format(t)));
  }
  if (lo < 0 && hi > 0) svg.append(s("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: y(0), y2: y(0), "stroke-dasharray": "3 3" }));
  let d = "";
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) return;
    d += `${d ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`;
  });
  svg.append(s("path", { class: "line", d }));
  const every = Math.ceil(points.length / 8);
  points.forEach((p, i) => {
    if (p.value !== null && p.value !== undefined) {
      const dot = s("circle", { class: "dot", cx: x(i), cy: y(p.value), r: 3 });
      dot.append(s("title", {}, `${day(p.start)}: ${format(p.value)}${showN ? ` (n=${p.n})` : ""}`));
      svg.append(dot);
    }
    if (i % every === 0) svg.append(s("text", { x: x(i), y: height - 18, "text-anchor": "middle" }, day(p.start)));
    if (showN && i % every === 0) svg.append(s("text", { x: x(i), y: height - 4, "text-anchor": "middle" }, `n=${p.n ?? 0}`));
  });
  return svg;
}

function barChart(points, { title, height = 160, hot = () => false, value = (p) => p.count } = {}) {
  const width = 560;
  const pad = { l: 40, r: 12, t: 10, b: 22 };
  const hi = Math.max(1, ...points.map(value));
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  const w = (width - pad.l - pad.r) / Math.max(1, points.length);
  svg.append(s("text", { x: pad.l - 6, y: pad.t + 8, "text-anchor": "end" }, int(hi)));
  svg.append(s("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b }));
  const every = Math.ceil(points.length / 8);
  points.forEach((p, i) => {
    const v = value(p);
    const bh = ((height - pad.t - pad.b) * v) / hi;
    const rect = s("rect", { class: `bar${hot(p) ? " hot" : ""}`, x: pad.l + i * w + 1, y: height - pad.b - bh, width: Math.max(1, w - 2), height: bh });
    rect.append(s("title", {}, `${day(p.start)}: ${int(v)}`));
    svg.append(rect);
    if (i % every === 0) svg.append(s("text", { x: pad.l + i * w + w / 2, y: height - 6, "text-anchor": "middle" }, day(p.start)));
  });
  return svg;
}

function forestPlot(drivers, { title }) {
  const width = 560;
  const row = 26;
  const pad = { l: 170, r: 16, t: 16, b: 26 };
  const height = pad.t + pad.b + row * drivers.length;
  const lo = Math.min(0, ...drivers.map((d) => d.ci_low ?? d.effect));
  const hi = Math.max(0, ...drivers.map((d) => d.ci_high ?? d.effect));
  const x = (v) => pad.l + ((v - lo) * (width - pad.l - pad.r)) / (hi - lo || 1);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  svg.append(s("line", { class: "axis", x1: x(0), x2: x(0), y1: pad.t - 6, y2: height - pad.b, "stroke-dasharray": "3 3" }));
  svg.append(s("text", { x: x(0), y: height - 8, "text-anchor": "middle" }, "0"));
  svg.append(s("text", { x: x(lo), y: height - 8 }, num(lo, 1)));
  svg.append(s("text", { x: x(hi), y: height - 8, "text-anchor": "end" }, num(hi, 1)));
  drivers.forEach((d, i) => {
    const cy = pad.t + row * i + row / 2;
    const color = d.effect < 0 ? "var(--bad)" : "var(--good)";
    svg.append(s("text", { x: pad.l - 8, y: cy + 4, "text-anchor": "end", style: "fill: var(--ink)" }, d.name || label(d.topic)));
    svg.append(s("line", { x1: x(d.ci_low ?? d.effect), x2: x(d.ci_high ?? d.effect), y1: cy, y2: cy, stroke: color, "stroke-width": 2 }));
    const dot = s("circle", { cx: x(d.effect), cy, r: 5, fill: d.significant ? color : "#fff", stroke: color, "stroke-width": 2 });
    dot.append(s("title", {}, `${d.name || d.topic}: ${num(d.effect, 2)} [${num(d.ci_low, 2)}, ${num(d.ci_high, 2)}]`));
    svg.append(dot);
  });
  return svg;
}

function ciBar(low, mid, high, { title }) {
  // One difference with its interval on a symmetric axis around zero.
  const width = 220;
  const height = 34;
  const m = Math.max(Math.abs(low ?? mid), Math.abs(high ?? mid), Math.abs(mid), 0.01) * 1.15;
  const x = (v) => 10 + ((v + m) * (width - 20)) / (2 * m);
  const color = high < 0 ? "var(--good)" : low > 0 ? "var(--bad)" : "var(--neutral)";
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, style: "max-width: 220px" });
  svg.append(s("title", {}, title));
  svg.append(s("line", { class: "axis", x1: x(0), x2: x(0), y1: 2, y2: 22, "stroke-dasharray": "3 3" }));
  if (low !== null && high !== null) svg.append(s("line", { x1: x(low), x2: x(high), y1: 12, y2: 12, stroke: color, "stroke-width": 3 }));
  svg.append(s("circle", { cx: x(mid), cy: 12, r: 5, fill: color }));
  svg.append(s("text", { x: x(0), y: 32, "text-anchor": "middle" }, "0"));
  return svg;
}

function sankey(edges, { title }) {
  // Stages in journey order as columns; forward flows as bands above, flows going back as arcs below.
  const stages = STAGE_ORDER.filter((st) => edges.some((e) => e.from_stage === st || e.to_stage === st));
  for (const e of edges) for (const st of [e.from_stage, e.to_stage]) if (!stages.includes(st)) stages.push(st);
  const width = 1100;
  const col = (width - 80) / Math.max(1, stages.length - 1);
  const throughput = Object.fromEntries(stages.map((st) => [st, 0]));
  for (const e of edges) {
    throughput[e.from_stage] = Math.max(throughput[e.from_stage], sum(edges.filter((x) => x.from_stage === e.from_stage)));
    throughput[e.to_stage] = Math.max(throughput[e.to_stage], sum(edges.filter((x) => x.to_stage === e.to_stage)));
  }
  const most = Math.max(1, ...Object.values(throughput));
  const scale = 150 / most;
  const top = 40;
  const baseline = top + 170;
  const height = baseline + 150;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, "data-test": "sankey" });
  svg.append(s("title", {}, title));
  const xOf = (st) => 40 + stages.indexOf(st) * col;
  const outOffset = Object.fromEntries(stages.map((st) => [st, 0]));
  const inOffset = Object.fromEntries(stages.map((st) => [st, 0]));
  const sorted = [...edges].sort((a, b) => b.count - a.count);
  for (const e of sorted) {
    const w = Math.max(1.5, e.count * scale);
    const x1 = xOf(e.from_stage) + 9;
    const x2 = xOf(e.to_stage) - 9;
    const forward = stages.indexOf(e.to_stage) > stages.indexOf(e.from_stage);
    const y1 = baseline - throughput[e.from_stage] * scale + outOffset[e.from_stage] + w / 2;
    const y2 = baseline - throughput[e.to_stage] * scale + inOffset[e.to_stage] + w / 2;
    outOffset[e.from_stage] += w;
    inOffset[e.to_stage] += w;
    let d;
    if (forward) {
      const mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
    } else {
      const depth = baseline + 20 + Math.min(120, Math.abs(x1 - x2) / 4);
      d = `M${x1 - 18},${baseline} C${x1 - 18},${depth} ${x2 + 18},${depth} ${x2 + 18},${baseline}`;
    }
    const path = s("path", {
      d, fill: "none", stroke: forward ? "#7f9fe0" : "#e0a07f", "stroke-opacity": forward ? 0.45 : 0.35,
      "stroke-width": forward ? w : Math.max(1.5, w / 2),
    });
    path.append(s("title", {}, `${label(e.from_stage)} → ${label(e.to_stage)}: ${int(e.count)}`));
    svg.append(path);
  }
  for (const st of stages) {
    const hgt = Math.max(4, throughput[st] * scale);
    svg.append(s("rect", { x: xOf(st) - 9, y: baseline - hgt, width: 18, height: hgt, fill: st === "churned" ? "var(--bad)" : "#2456c7", rx: 2 }));
    svg.append(s("text", { x: xOf(st), y: top - 16, "text-anchor": "middle", style: "fill: var(--ink); font-size: 13px" }, label(st)));
    svg.append(s("text", { x: xOf(st), y: top - 2, "text-anchor": "middle" }, int(throughput[st])));
  }
  return svg;
}

function sum(edges) {
  return edges.reduce((total, e) => total + e.count, 0);
}

function table(caption, columns, rows, { rowAttrs = () => ({}) } = {}) {
  return h(
    "table",
    {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
    h("tbody", {}, rows.map((r) => h("tr", rowAttrs(r), columns.map((c) => h("td", { class: c.num ? "num" : null, ...(c.attrs ? c.attrs(r) : {}) }, c.cell(r)))))),
  );
}

function panel(title, ...children) {
  return h("section", { class: "panel", "aria-label": title }, h("h2", {}, title), ...children);
}

// --- views -----------------------------------------------------------------------------------------------------------

async function metric(name, p, extra = {}) {
  const interval = state.days > 45 ? "week" : "day";
  return api("/v1/insights/metrics", { params: { metric: name, interval, from: p.from, to: p.to, ...extra } });
}

async function overview(p) {
  const [nps, csat, ces, volume, sentiment, negative, channels, sources] = await Promise.all([
    metric("nps", p), metric("csat", p), metric("ces", p), metric("volume", p), metric("sentiment", p),
    metric("negative_share", p), metric("nps", p, { group_by: "channel" }), metric("volume", p, { group_by: "source" }),
  ]);
  const total = (m) => m.series[0] || { value: null, n: 0, count: 0, points: [] };
  const kpi = (name, m, fmt, note) =>
    h("div", { class: "kpi", "data-test": `kpi-${name}` },
      h("div", { class: "label" }, note),
      h("div", { class: "value", "data-test": `kpi-${name}-value` }, fmt(total(m).value)),
      h("div", { class: "note" }, h("span", { "data-test": `kpi-${name}-n` }, int(total(m).n)), " answers"));
  return [
    h("h1", {}, "Overview"),
    h("p", { class: "sub" }, `${day(p.from)} – ${day(p.to)} · ${int(total(volume).count)} feedback`),
    h("div", { class: "kpis" },
      kpi("nps", nps, (v) => num(v, 1), "NPS"),
      kpi("csat", csat, (v) => (v === null ? "–" : `${num(v, 1)}%`), "CSAT (4–5 of 5)"),
      kpi("ces", ces, (v) => num(v, 2), "CES (1–7, higher is easier)"),
      kpi("sentiment", sentiment, (v) => num(v, 2), "Sentiment (−1…1)"),
      kpi("negative", negative, (v) => (v === null ? "–" : `${num(v, 1)}%`), "Negative share"),
      h("div", { class: "kpi", "data-test": "kpi-volume" }, h("div", { class: "label" }, "Feedback"),
        h("div", { class: "value", "data-test": "kpi-volume-value" }, int(total(volume).count)), h("div", { class: "note" }, "in the period"))),
    h("div", { class: "grid wide" },
      panel("NPS", lineChart(total(nps).points, { title: "NPS over time with the number of answers" })),
      panel("CSAT", lineChart(total(csat).points, { title: "CSAT over time", format: (v) => `${num(v, 0)}%` })),
      panel("CES", lineChart(total(ces).points, { title: "Customer effort over time", format: (v) => num(v, 1) })),
      panel("Volume", barChart(total(volume).points, { title: "Feedback volume over time" })),
      panel("Sentiment", lineChart(total(sentiment).points, { title: "Mean sentiment over time", format: (v) => num(v, 2) })),
      panel("Negative share", lineChart(total(negative).points, { title: "Share of negative feedback", format: (v) => `${num(v, 0)}%` }))),
    h("div", { class: "grid" },
      panel("NPS by channel", table(null, [
        { label: "Channel", cell: (r) => label(r.key) },
        { label: "NPS", num: true, cell: (r) => num(r.value, 1) },
        { label: "Answers", num: true, cell: (r) => int(r.n) },
      ], channels.series)),
      panel("Feedback by source", table(null, [
        { label: "Source", cell: (r) => r.key },
        { label: "Feedback", num: true, cell: (r) => int(r.count) },
      ], [...sources.series].sort((a, b) => b.count - a.count)))),
  ];
}

async function themes(p, [selected]) {
  const [themeList, alertList] = await Promise.all([
    api("/v1/insights/themes", { params: { from: p.from, to: p.to } }),
    api("/v1/insights/alerts", { params: { limit: 100 } }),
  ]);
  const rank = { high: 0, medium: 1, low: 2 };
  const alerts = [...alertList.alerts].sort((a, b) => (rank[a.severity] ?? 3) - (rank[b.severity] ?? 3));
  const open = alerts.filter((a) => a.status === "open");
  const spike = alerts.find((a) => a.kind === "volume_spike" && a.key !== "all");
  const topic = selected || spike?.key || themeList.themes[0]?.topic;
  const detail = topic ? await themeDetail(topic, p, alerts) : h("p", {}, "No themes in this period.");
  const alertCard = (a) =>
    h("article", { class: `alert ${a.severity}`, "data-test": "alert", "data-kind": a.kind, "data-key": a.key, "data-status": a.status },
      h("h3", {}, `${label(a.kind)} · ${label(a.key)} `, h("span", { class: `pill ${a.severity}` }, a.severity), " ",
        h("span", { class: "pill" }, label(a.status))),
      h("div", {}, `Window ${when(a.evidence?.window?.from)} → ${when(a.evidence?.window?.to)}: observed ${num(a.evidence?.observed, 1)} vs expected ${num(a.evidence?.expected, 1)} (p = ${Number(a.evidence?.p_value ?? NaN).toExponential(1)}, threshold ${Number(a.evidence?.threshold ?? NaN).toExponential(1)})`),
      a.status === "open"
        ? h("button", { type: "button", onclick: async () => { await api(`/v1/insights/alerts/${a.id}/acknowledge`, { method: "POST" }); refreshAlertBadge(); route(); } }, "Acknowledge")
        : null);
  return [
    h("h1", {}, "Themes & alerts"),
    h("p", { class: "sub" }, `${int(themeList.total)} feedback in ${day(p.from)} – ${day(p.to)}; trends against the previous period of the same length`),
    h("div", { class: "grid wide" },
      panel("Alerts", h("p", {}, h("strong", { "data-test": "alert-count" }, String(open.length)), ` open of ${alerts.length}`),
        ...open.map(alertCard), ...alerts.filter((a) => a.status !== "open").slice(0, 10).map(alertCard)),
      panel("Themes", table(null, [
        { label: "Theme", cell: (r) => h("a", { href: `#/themes/${encodeURIComponent(r.topic)}` }, r.name || label(r.topic)) },
        { label: "Volume", num: true, cell: (r) => int(r.volume), attrs: () => ({ "data-test": "theme-volume" }) },
        { label: "Share", num: true, cell: (r) => `${num(r.share, 1)}%` },
        { label: "Sentiment", num: true, cell: (r) => h("span", { class: signClass(r.sentiment) }, num(r.sentiment, 2)) },
        { label: "Negative", num: true, cell: (r) => `${num(r.negative_share, 0)}%` },
        { label: "NPS", num: true, cell: (r) => num(r.nps, 0) },
        { label: "Trend", cell: (r) => h("span", { class: `pill ${r.trend}` }, `${r.trend} (${int(r.previous_volume)} before)`) },
      ], themeList.themes, { rowAttrs: (r) => ({ "data-test": "theme-row", "data-topic": r.topic, "aria-selected": r.topic === topic ? "true" : null }) }))),
    detail,
  ];
}

async function themeDetail(topic, p, alerts) {
  const [series, story] = await Promise.all([
    api("/v1/insights/metrics", { params: { metric: "volume", interval: "day", group_by: "topic", key: topic, from: p.from, to: p.to } }),
    api(`/v1/insights/themes/${encodeURIComponent(topic)}/story`, { params: { from: p.from, to: p.to } }).catch(() => null),
  ]);
  const points = series.series[0]?.points || [];
  const windows = alerts.filter((a) => a.key === topic).map((a) => [new Date(a.evidence?.window?.from), new Date(a.evidence?.window?.to)]);
  const inAlert = (pt) => windows.some(([a, b]) => new Date(pt.start) >= a && new Date(pt.start) < new Date(b.getTime() + 6 * 86400_000));
  return h("div", { class: "grid wide", "data-test": "theme-detail", "data-topic": topic },
    panel(`Daily volume: ${label(topic)}`, barChart(points, { title: `Daily feedback about ${label(topic)}; days near an alert in red`, hot: inAlert }),
      h("p", { class: "legend" }, h("span", {}, h("i", { style: "background: var(--bad)" }), "the week of an alert"))),
    panel(`In customers’ words: ${label(topic)}`,
      story
        ? [h("p", { class: "muted" }, `${int(story.feedback_count)} feedback from ${int(story.customer_count)} customers · value affected ${money(story.value_affected)} · ${story.trend?.direction ?? ""}`),
           ...story.sentences.map((x) => h("p", { class: "quote" }, `“${x.text}”`))]
        : h("p", {}, "No story for this theme.")));
}

async function drivers(p, [outcome = "nps"]) {
  const result = await api("/v1/insights/drivers", { params: { outcome, from: p.from, to: p.to } });
  const list = result.drivers || [];
  return [
    h("h1", {}, "Key drivers"),
    h("p", { class: "sub" },
      `What moves ${outcome.toUpperCase()}: ${int(result.n)} answers, score ${num(result.score, 1)}, R² ${num(result.r_squared, 2)}. `,
      "Effects in answer points with 95% bootstrap intervals; filled dots are significant. ",
      h("a", { href: outcome === "nps" ? "#/drivers/csat" : "#/drivers/nps" }, `Show ${outcome === "nps" ? "CSAT" : "NPS"} instead`)),
    result.reason ? h("p", { class: "error" }, result.reason) : null,
    h("div", { class: "grid wide" },
      panel("Effect on the answer, with its interval", forestPlot(list, { title: `Effect of each topic on ${outcome}` })),
      panel("Drivers", table(null, [
        { label: "Topic", cell: (r) => r.name || label(r.topic) },
        { label: "Importance", num: true, cell: (r) => pct(r.importance, 1) },
        { label: "Effect", num: true, cell: (r) => h("span", { class: signClass(r.effect) }, num(r.effect, 2)) },
        { label: "95% CI", num: true, cell: (r) => `[${num(r.ci_low, 2)}, ${num(r.ci_high, 2)}]` },
        { label: "Impact (pts)", num: true, cell: (r) => num(r.impact_points, 1) },
        { label: "Mentions", num: true, cell: (r) => int(r.count) },
      ], list, { rowAttrs: (r) => ({ "data-test": "driver-row", "data-topic": r.topic }) }))),
  ];
}

async function journey(p) {
  const [paths, friction, stages, risk] = await Promise.all([
    api("/v1/journeys/paths", { params: { from: p.from, to: p.to } }),
    api("/v1/journeys/friction", { params: { from: p.from, to: p.to } }),
    api("/v1/journeys/stages", { params: { from: p.from, to: p.to } }),
    api("/v1/journeys/at-risk", { params: { limit: 100 } }),
  ]);
  const points = friction.friction || [];
  // Those who already left are history; the list shows the customers who can still be kept.
  const savable = risk.customers.filter((c) => c.current_stage !== "churned").slice(0, 25);
  const churned = risk.customers.length - risk.customers.filter((c) => c.current_stage !== "churned").length;
  const withSentiment = stages.stages.filter((st) => st.sentiment !== null);
  const sentimentBars = s("svg", { class: "chart", viewBox: `0 0 560 ${24 * withSentiment.length + 10}`, role: "img", "aria-label": "Mean sentiment by stage" });
  withSentiment.forEach((st, i) => {
    const w = Math.abs(st.sentiment) * 200;
    const y = 5 + i * 24;
    sentimentBars.append(s("text", { x: 150, y: y + 14, "text-anchor": "end", style: "fill: var(--ink)" }, label(st.stage)));
    sentimentBars.append(s("rect", { x: st.sentiment < 0 ? 360 - w : 360, y, width: Math.max(1, w), height: 18, fill: st.sentiment < 0 ? "var(--bad)" : "var(--good)" },
      s("title", {}, `${label(st.stage)}: ${num(st.sentiment, 2)}`)));
    sentimentBars.append(s("text", { x: st.sentiment < 0 ? 360 - w - 4 : 360 + w + 4, y: y + 14, "text-anchor": st.sentiment < 0 ? "end" : "start" }, num(st.sentiment, 2)));
  });
  sentimentBars.append(s("line", { class: "axis", x1: 360, x2: 360, y1: 0, y2: 24 * withSentiment.length + 10 }));
  return [
    h("h1", {}, "Journey"),
    h("p", { class: "sub" }, `${day(p.from)} – ${day(p.to)}: stage-to-stage moves, where experience breaks, and who may leave`),
    panel("Paths between stages", sankey(paths.edges, { title: "Sankey of transitions between journey stages" }),
      h("p", { class: "legend" }, h("span", {}, h("i", { style: "background:#7f9fe0" }), "forward"), h("span", {}, h("i", { style: "background:#e0a07f" }), "back to an earlier stage"))),
    h("div", { class: "grid wide" },
      panel("Friction points, by impact", table(null, [
        { label: "#", num: true, cell: (r) => String(points.indexOf(r) + 1) },
        { label: "Stage", cell: (r) => h("strong", { "data-test": points.indexOf(r) === 0 ? "friction-top" : null }, label(r.key)) },
        { label: "Impact", num: true, cell: (r) => num(r.impact, 1) },
        { label: "Traffic", num: true, cell: (r) => int(r.traffic) },
        { label: "Detractor lift", num: true, cell: (r) => pct(r.detractor_lift, 0) },
        { label: "Abandoned", num: true, cell: (r) => `${int(r.evidence?.abandoned)} (${pct(r.abandonment_rate, 0)})` },
        { label: "Value at stake", num: true, cell: (r) => money(r.value_at_stake) },
      ], points, { rowAttrs: (r) => ({ "data-test": "friction-row", "data-stage": r.key }) })),
      panel("Sentiment by stage", sentimentBars)),
    h("div", { class: "grid wide" },
      panel("Stages", table(null, [
        { label: "Stage", cell: (r) => label(r.stage) },
        { label: "Customers", num: true, cell: (r) => int(r.customers) },
        { label: "NPS", num: true, cell: (r) => num(r.nps, 0) },
        { label: "CSAT", num: true, cell: (r) => (r.csat === null ? "–" : `${num(r.csat, 0)}%`) },
        { label: "Abandonment", num: true, cell: (r) => pct(r.abandonment_rate, 0) },
        { label: "Friction", num: true, cell: (r) => num(r.friction_score, 2) },
      ], stages.stages, { rowAttrs: (r) => ({ "data-test": "stage-row", "data-stage": r.stage }) })),
      panel(`At risk · value ${money(risk.value_at_risk)}`, table(null, [
        { label: "Customer", cell: (r) => h("a", { href: `#/customer/${r.customer_id}`, "data-test": "risk-customer" }, r.customer_id.slice(0, 8) + "…") },
        { label: "Risk", num: true, cell: (r) => h("span", { class: `pill ${r.level}` }, `${num(r.score, 2)} ${r.level}`) },
        { label: "Why", cell: (r) => (r.reasons || []).map((x) => label(x.signal)).join(", ") },
        { label: "Stage", cell: (r) => label(r.current_stage) },
        { label: "Value", num: true, cell: (r) => money(r.value) },
      ], savable, { rowAttrs: (r) => ({ "data-test": "risk-row", "data-customer": r.customer_id }) }),
      h("p", { class: "muted" }, `${churned} customers of the top ${risk.customers.length} have already churned and are not listed.`))),
  ];
}

async function actions(p, [kind = ""]) {
  const [items, sla] = await Promise.all([allPages("/v1/actions", kind ? { kind } : {}), api("/v1/actions/sla")]);
  const resolvedImprovements = items.filter((i) => i.kind === "improvement" && ["resolved", "verified"].includes(i.status)).slice(0, 12);
  const impacts = Object.fromEntries(await Promise.all(resolvedImprovements.map(async (i) => [i.id, await api(`/v1/actions/${i.id}/impact`).catch(() => null)])));
  const report = sla.groups?.[0] || {};
  const byStatus = Object.fromEntries(STATUSES.map((st) => [st, items.filter((i) => i.status === st)]));
  const shown = 12;
  const column = (st) =>
    h("section", { class: "column", "aria-label": `${label(st)} items` },
      h("h2", {}, label(st), h("span", { class: "pill", "data-test": `count-${st}` }, String(byStatus[st].length))),
      byStatus[st]
        .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "improvement" ? -1 : 1))
        .slice(0, shown)
        .map((i) => card(i, impacts[i.id])),
      byStatus[st].length > shown ? h("p", { class: "muted" }, `+ ${byStatus[st].length - shown} more`) : null);
  return [
    h("h1", {}, "Actions"),
    h("p", { class: "sub" },
      "Close the loop with customers and track improvements. ",
      h("label", {}, "Show ",
        h("select", { "aria-label": "Kind of item", onchange: (e) => { location.hash = `#/actions/${e.target.value}`; } },
          h("option", { value: "", selected: !kind }, "all items"),
          h("option", { value: "close_loop", selected: kind === "close_loop" }, "close-loop"),
          h("option", { value: "improvement", selected: kind === "improvement" }, "improvements")))),
    h("div", { class: "kpis" },
      kpiBox("Items", int(report.items), "sla-items"),
      kpiBox("On time", pct(report.on_time_rate, 0), "sla-on-time"),
      kpiBox("SLA breaches", int(report.breaches), "sla-breaches"),
      kpiBox("Median first response", duration(report.median_first_response_s), "sla-first-response"),
      kpiBox("Median time to close", duration(report.median_close_s), "sla-close"),
      kpiBox("Recovered", pct(report.recovery_rate, 0), "sla-recovery")),
    h("div", { class: "board", "data-test": "board" }, STATUSES.map(column)),
  ];
}

function kpiBox(name, value, test) {
  return h("div", { class: "kpi" }, h("div", { class: "label" }, name), h("div", { class: "value", "data-test": test }, value));
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400 * 2) return `${num(seconds / 3600, 1)} h`;
  return `${num(seconds / 86400, 1)} d`;
}

const NEXT = { open: ["acknowledged"], acknowledged: ["in_progress"], in_progress: ["resolved"], resolved: ["verified"] };

function card(item, impact) {
  const sla = item.sla || {};
  const moves = (NEXT[item.status] || []).map((to) =>
    h("button", { type: "button", onclick: () => move(item, to) }, `→ ${label(to)}`));
  return h("article", { class: "card", "data-test": "item", "data-kind": item.kind, "data-id": item.id },
    h("h3", {}, item.title),
    h("div", { class: "meta" },
      h("span", { class: "pill" }, label(item.kind)),
      h("span", { class: `pill ${item.priority}` }, item.priority),
      sla.status && sla.status !== "none" ? h("span", { class: `pill ${sla.status}`, "data-test": "sla" }, `SLA ${label(sla.status)}`) : null,
      item.owner || item.team ? h("span", { class: "pill" }, item.owner || item.team) : null),
    sla.due_at && !["resolved", "verified", "wont_fix"].includes(item.status) ? h("div", { class: "muted" }, `due ${when(sla.due_at)}`) : null,
    item.customer_id ? h("a", { href: `#/customer/${item.customer_id}` }, "customer timeline") : null,
    item.links?.topic ? h("div", { class: "muted" }, `theme: ${label(item.links.topic)}`) : null,
    impact ? impactBlock(impact) : null,
    moves.length ? h("div", { class: "row" }, moves) : null);
}

function impactBlock(impact) {
  if (impact.did === null || impact.did === undefined) return h("div", { class: "impact muted" }, `Impact: ${impact.reason || "not measurable yet"}`);
  const metricName = label(impact.metric);
  return h("div", { class: "impact", "data-test": "impact", "data-did": impact.did },
    h("div", {}, h("strong", {}, `${metricName}: ${pct(impact.treated_before, 0)} → ${pct(impact.treated_after, 0)}`)),
    h("div", {}, `vs the rest ${pct(impact.control_before, 0)} → ${pct(impact.control_after, 0)}`),
    h("div", {}, `Difference-in-differences ${num(impact.did * 100, 1)} pts, 95% CI [${num(impact.ci_low * 100, 1)}, ${num(impact.ci_high * 100, 1)}]`),
    ciBar(impact.ci_low, impact.did, impact.ci_high, { title: "Difference-in-differences with its 95% interval" }),
    h("div", { class: impact.significant ? "pos" : "muted" }, impact.significant ? "A real effect" : "No clear effect"));
}

async function move(item, to) {
  const body = { to };
  if (to === "resolved" && item.kind === "close_loop") {
    const cause = prompt("Root cause (required to resolve a close-loop item):");
    if (!cause) return;
    body.root_cause = cause;
  }
  try {
    await api(`/v1/actions/${item.id}/transitions`, { method: "POST", body });
    route();
  } catch (exc) {
    toast(`Could not move the item: ${exc.message}`);
  }
}

async function customer(p, [wanted = ""]) {
  const input = h("input", { type: "search", id: "customer-id", value: wanted, placeholder: "internal id (UUID) or your own customer id" });
  const form = h("form", { class: "row", role: "search" }, h("label", { for: "customer-id" }, "Customer"), input, h("button", { type: "submit", class: "primary" }, "Show"));
  form.style.maxWidth = "720px";
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/customer/${encodeURIComponent(input.value.trim())}`;
  });
  const head = [h("h1", {}, "Customer"), h("p", { class: "sub" }, "Everything one customer did and said, with their churn risk and open items. Pick one from the at-risk list or an action item."), form];
  if (!wanted) return head;
  let id = wanted;
  if (!isUuid(wanted)) {
    const found = await api(`/v1/customers/${encodeURIComponent(wanted)}`).catch(() => null);
    if (!found) return [...head, h("p", { class: "error" }, "No customer with that id.")];
    id = found.id;
  }
  const [timeline, items] = await Promise.all([
    api(`/v1/journeys/customers/${id}`).catch((exc) => (exc.status === 404 ? null : Promise.reject(exc))),
    api("/v1/actions", { params: { customer_id: id, limit: 50 } }),
  ]);
  if (!timeline) return [...head, h("p", { class: "error" }, "No journey for that customer.")];
  const steps = [...timeline.steps].reverse().slice(0, 80);
  const feedbackIds = steps.filter((st) => st.feedback_id).slice(0, 20).map((st) => st.feedback_id);
  const analyses = Object.fromEntries(await Promise.all(feedbackIds.map(async (f) => [f, await api(`/v1/insights/feedback/${f}`).catch(() => null)])));
  const risk = timeline.churn_risk || {};
  return [
    ...head,
    h("div", { class: "kpis" },
      kpiBox("Current stage", label(timeline.current_stage), "customer-stage"),
      kpiBox("Churn risk", risk.score === undefined ? "–" : `${num(risk.score, 2)} ${risk.level}`, "customer-risk"),
      kpiBox("Value", money(timeline.value), "customer-value"),
      kpiBox("Segment", timeline.segment || "–", "customer-segment")),
    h("div", { class: "grid wide" },
      panel("Timeline (newest first)", h("ol", { class: "timeline", "data-test": "timeline" }, steps.map((st) => step(st, analyses[st.feedback_id])))),
      h("div", {},
        panel("Why at risk", h("ul", {}, (risk.reasons || []).map((r) => h("li", {}, `${label(r.signal)} (${r.weight}): ${r.detail}`)))),
        panel("Items", items.items.length ? items.items.map((i) => card(i, null)) : h("p", { class: "muted" }, "No items.")),
        panel("Stages visited", h("ol", {}, timeline.visits.map((v) => h("li", {}, `${label(v.stage)}: ${day(v.entered_at)} → ${v.exited_at ? day(v.exited_at) : "now"}`)))))),
  ];
}

function step(st, analysis) {
  const scores = Object.entries(st.scores || {}).filter(([, v]) => v !== null).map(([k, v]) => `${k.toUpperCase()} ${v}`).join(" · ");
  return h("li", { class: st.kind },
    h("div", { class: "when" }, `${when(st.at)} · ${label(st.stage)} · ${st.channel || ""}`),
    h("div", {}, h("strong", {}, label(st.name)), scores ? ` · ${scores}` : "",
      st.sentiment ? h("span", { class: st.sentiment.label === "negative" ? "neg" : st.sentiment.label === "positive" ? "pos" : "muted" }, ` · ${st.sentiment.label}`) : null,
      st.topics?.length ? ` · ${st.topics.map(label).join(", ")}` : ""),
    analysis?.redacted_text ? h("p", { class: "quote" }, `“${analysis.redacted_text}”`) : null);
}

// --- start -----------------------------------------------------------------------------------------------------------

document.getElementById("signout").addEventListener("click", () => signOut());
document.getElementById("period").addEventListener("change", (e) => {
  state.days = Number(e.target.value);
  route();
});
window.addEventListener("hashchange", route);
if (state.key) start();
else renderSignIn();
