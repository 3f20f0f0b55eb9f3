// Meshgate dashboard: polls the admin API of the origin it came from and draws what it reads.
// No libraries; text goes in through textContent only, so nothing from the API becomes markup.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "meshgate.adminToken";
const SVG = "http://www.w3.org/2000/svg";

let polling = null;

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function getJson(path) {
  const headers = { "Accept": "application/json" };
  const t = token();
  if (t) headers["Authorization"] = "Bearer " + t;
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 401) throw new NeedsToken();
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

class NeedsToken extends Error {}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

function fmt(value, digits) {
  if (value === null || value === undefined) return "–";
  return Number(value).toFixed(digits);
}

function replaceRows(tbody, rows) { tbody.replaceChildren(...rows); }

// One line chart: each series is an array of numbers or nulls (gaps), drawn over a fixed 0..max scale.
function lineChart(series, label, unit) {
  const width = 360, height = 70, top = 12;
  const chart = svg("svg", { "class": "chart", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": label });
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const scale = max > 0 ? max : 1;
  chart.append(svg("line", { "class": "axis", x1: 0, y1: height - 1, x2: width, y2: height - 1 }));
  for (const s of series) {
    const step = width / Math.max(1, s.values.length - 1);
    let path = "";
    const gap = i => i < 0 || i >= s.values.length || s.values[i] === null;
    s.values.forEach((v, i) => {
      if (v === null) return;
      const x = (i * step).toFixed(1), y = (height - 1 - (v / scale) * (height - top - 1)).toFixed(1);
      path += (gap(i - 1) ? " M" : " L") + x + " " + y;
      // A value with no neighbour draws no line: mark it, or a single busy bucket would not show.
      if (gap(i - 1) && gap(i + 1)) chart.append(svg("circle", { "class": s.cls + " dot", cx: x, cy: y, r: 2.5 }));
    });
    if (path) chart.append(svg("path", { "class": s.cls, d: path.trim() }));
  }
  const caption = svg("text", { x: 2, y: 10 });
  caption.textContent = `max ${fmt(max, max < 10 ? 2 : 0)} ${unit}`;
  chart.append(caption);
  return chart;
}

function routeCard(route, stats, bucketSeconds) {
  const s = stats.series;
  const total = s.requests.reduce((a, b) => a + b, 0);
  const rate = s.requests.map(n => n / bucketSeconds);
  const errorRate = s.requests.map((n, i) => n === 0 ? null : 100 * s.serverErrors[i] / n);
  const card = el("div", {
    "class": "route-card",
    "data-route": route,
    "data-requests-window": total,
    "data-requests-last-minute": stats.lastMinute.requests,
  });
  card.append(
    el("h3", {}, route),
    el("div", { "class": "summary" },
      el("span", { "class": "requests-window" }, `${total} requests in 15 min`), " · ",
      `${fmt(stats.lastMinute.requestsPerSecond, 2)} req/s, ${fmt(100 * stats.lastMinute.errorRate, 1)}% 5xx over the last minute`),
    el("div", { "class": "chart-title" }, "requests/s"),
    lineChart([{ values: rate, cls: "requests" }], `requests per second for ${route}`, "req/s"),
    el("div", { "class": "chart-title" }, "5xx rate (%)"),
    lineChart([{ values: errorRate, cls: "errors" }], `error rate for ${route}`, "%"),
    el("div", { "class": "chart-title" }, "latency p50 (blue) / p99 (purple), ms"),
    lineChart([{ values: s.p50Ms, cls: "p50" }, { values: s.p99Ms, cls: "p99" }], `latency for ${route}`, "ms"),
  );
  return card;
}

function renderStats(stats, routes) {
  const definitions = new Map(routes.map(r => [r.id, r]));
  const rows = [];
  const cards = [];
  const all = [...stats.routes, { ...stats.noRoute, route: "(no route)" }];
  for (const r of all) {
    const def = definitions.get(r.route);
    const m = r.lastMinute;
    const cluster = def ? (def.cluster ?? (def.split ? def.split.map(s => s.cluster).join(", ") : "")) : "";
    const match = def && def.match ? [def.match.methods ? def.match.methods.join(",") : "", def.match.hosts ? def.match.hosts.join(",") : "", def.match.path ?? def.match.pathPrefix ?? ""].filter(x => x).join(" ") : "";
    rows.push(el("tr", { "data-route": r.route },
      el("td", {}, r.route), el("td", {}, match), el("td", {}, cluster),
      el("td", { "class": "num" }, m.requests), el("td", { "class": "num" }, fmt(m.requestsPerSecond, 2)),
      el("td", { "class": "num" }, fmt(100 * m.errorRate, 1) + "%"), el("td", { "class": "num" }, fmt(m.p50Ms, 1)), el("td", { "class": "num" }, fmt(m.p99Ms, 1))));
    cards.push(routeCard(r.route, r, stats.bucketSeconds));
  }
  replaceRows(document.querySelector("#routes tbody"), rows);
  document.getElementById("charts").replaceChildren(...cards);
}

function healthClass(health) { return "health-" + String(health).split(" ")[0]; }

function renderClusters(clusters) {
  const blocks = clusters.map(c => {
    const rows = c.endpoints.map(e => el("tr", { "data-endpoint": e.address, "data-health": e.health },
      el("td", {}, e.address), el("td", { "class": healthClass(e.health) }, e.health), el("td", { "class": "num" }, e.weight), el("td", { "class": "num" }, e.activeRequests)));
    const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "endpoint"), el("th", {}, "health"), el("th", { "class": "num" }, "weight"), el("th", { "class": "num" }, "active"))), el("tbody", {}, ...rows));
    return el("div", { "class": "cluster", "data-cluster": c.id },
      el("h3", {}, c.id, " ", el("span", { "class": "muted" }, `${c.availableEndpoints} of ${c.endpoints.length} endpoints available · ${c.loadBalancing ?? "default balancing"}`)),
      table);
  });
  document.getElementById("clusters").replaceChildren(...blocks);
}

function renderRateLimits(limits) {
  const store = limits.store;
  document.getElementById("ratelimit-store").textContent = store
    ? `shared store ${store.connection}: ${store.failing ? "failing, deciding locally" : "answering"} (${store.fallbackDecisions} fallback decisions)`
    : "no shared store: limits are counted in this process";
  const rows = limits.policies.map(p => el("tr", { "data-policy": p.name },
    el("td", {}, p.name), el("td", {}, p.algorithm), el("td", {}, p.scope), el("td", { "class": "num" }, p.limit), el("td", {}, p.window),
    el("td", { "class": "num" }, p.keysTracked), el("td", { "class": "num" }, p.overflowed)));
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 7, "class": "muted" }, "no route uses a rate limit")));
  replaceRows(document.querySelector("#ratelimits tbody"), rows);
}

function renderCache(cache) {
  const store = cache.redis;
  document.getElementById("cache-store").textContent = store
    ? `shared store ${store.connection}: ${store.failing ? "failing, forwarding without caching" : "answering"} (${store.errors} errors since start)`
    : "no shared store: entries are kept in this process";
  const routes = cache.routes.map(r => {
    const served = r.hit + r.stale + r.revalidated;
    const total = served + r.miss + r.bypass;
    return el("tr", { "data-route": r.route, "data-hits": r.hit },
      el("td", {}, r.route), el("td", { "class": "num" }, r.hit), el("td", { "class": "num" }, r.stale), el("td", { "class": "num" }, r.revalidated),
      el("td", { "class": "num" }, r.miss), el("td", { "class": "num" }, r.bypass), el("td", { "class": "num" }, total ? (100 * served / total).toFixed(1) + "%" : "–"));
  });
  if (routes.length === 0) routes.push(el("tr", {}, el("td", { colspan: 7, "class": "muted" }, "no cached route has had a request")));
  replaceRows(document.querySelector("#cache-routes tbody"), routes);
  const policies = cache.policies.map(p => el("tr", { "data-policy": p.name },
    el("td", {}, p.name), el("td", {}, p.store), el("td", { "class": "num" }, p.entries ?? "–"), el("td", { "class": "num" }, p.bytes ?? "–")));
  if (policies.length === 0) policies.push(el("tr", {}, el("td", { colspan: 4, "class": "muted" }, "no route uses a cache")));
  replaceRows(document.querySelector("#cache-policies tbody"), policies);
}

function renderConfig(status) {
  document.getElementById("version").textContent = `config ${status.version} · generation ${status.generation}`;
  const rows = (status.recentAttempts || []).map(a => el("tr", { "class": "reload", "data-applied": a.applied },
    el("td", {}, new Date(a.at).toLocaleString()), el("td", {}, a.trigger),
    el("td", { "class": a.errors.length ? "rejected" : "applied" }, a.errors.length ? "rejected" : a.applied ? "applied" : "unchanged"),
    el("td", {}, a.version), el("td", {}, a.errors.join("\n"))));
  replaceRows(document.querySelector("#reloads tbody"), rows);
}

async function refresh() {
  const problem = document.getElementById("problem");
  try {
    const [stats, routes, clusters, limits, cache, status] = await Promise.all([
      getJson("/admin/stats"), getJson("/admin/routes"), getJson("/admin/clusters"), getJson("/admin/ratelimits"), getJson("/admin/cache"), getJson("/admin/config/status")]);
    renderStats(stats, routes);
    renderClusters(clusters);
    renderRateLimits(limits);
    renderCache(cache);
    renderConfig(status);
    problem.hidden = true;
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (e) {
    if (e instanceof NeedsToken) {
      askForToken();
      return;
    }
    problem.textContent = "admin API: " + e.message;
    problem.hidden = false;
  }
}

function askForToken() {
  clearInterval(polling);
  polling = null;
  document.getElementById("token-form").hidden = false;
  document.getElementById("token").focus();
}

function start() {
  document.getElementById("token-form").addEventListener("submit", event => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
    document.getElementById("token").value = "";
    document.getElementById("token-form").hidden = true;
    refresh();
    if (!polling) polling = setInterval(refresh, POLL_MS);
  });
  refresh();
  polling = setInterval(refresh, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
