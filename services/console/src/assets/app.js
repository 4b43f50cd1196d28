// tarsd console: renders what the JSON API answers. No libraries; text goes through
// textContent only.
"use strict";

// The navigation.
const NAV = [
  { page: "overview", href: "/", title: "Overview" },
  { page: "registry", href: "/registry", title: "Registry" },
  { page: "transactions", href: "/transactions", title: "Transactions" },
  { page: "stat", href: "/stat", title: "Statistics" },
];

const PAGE = document.body.dataset.page;
const main = document.getElementById("main");

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  if (response.status === 401) {
    location.href = "/login";
    throw new Error("authentication required");
  }
  let body;
  try { body = await response.json(); } catch (e) { body = { error: response.statusText }; }
  if (!response.ok && !(body && body.action)) {
    throw new Error((body && body.error) || response.statusText);
  }
  return body;
}

// Replaces the page's content (absent parts, null, are left out).
function show(...parts) {
  main.replaceChildren(...parts.filter(p => p !== null && p !== undefined));
}

function showError(e) {
  show(el("p", { class: "error", id: "page-error" }, String(e.message || e)));
}

function fmtTime(ms) {
  if (!ms) return "—";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function fmtAge(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  if (s < 120) return s.toFixed(1) + " s";
  const m = s / 60;
  if (m < 120) return m.toFixed(1) + " min";
  return (m / 60).toFixed(1) + " h";
}

function statusClass(status) {
  if (/Retrying|Timeout/.test(status)) return "badge bad";
  if (/ing$/.test(status)) return "badge warn";
  if (status === "Begin") return "badge";
  return "badge ok";
}

function badge(text, cls, field) {
  return el("span", { class: cls, "data-field": field }, text);
}

function card(label, value, id) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label),
    el("div", { class: "value", id }, value));
}

function table(headers, rows, attrs) {
  return el("table", attrs || {},
    el("thead", {}, el("tr", {}, headers.map(h => el("th", { class: h.num ? "num" : "" }, h.title || h)))),
    el("tbody", {}, rows));
}

// Requests per second as an inline SVG sparkline.
function sparkline(values) {
  const w = 360, h = 60, pad = 4;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0;
  const points = values.map((v, i) =>
    `${(pad + i * step).toFixed(1)},${(h - pad - (v / max) * (h - 2 * pad)).toFixed(1)}`).join(" ");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points);
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#2456c7");
  line.setAttribute("stroke-width", "2");
  svg.append(line);
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", w - pad);
  label.setAttribute("y", 14);
  label.setAttribute("text-anchor", "end");
  label.setAttribute("font-size", "11");
  label.setAttribute("fill", "#6b7585");
  label.textContent = `max ${max.toFixed(1)}/s`;
  svg.append(label);
  return svg;
}

// ---- Overview ----
async function overview() {
  const o = await api("/api/overview");
  const cards = el("div", { class: "cards" },
    card("Mode", o.node.mode, "node-mode"),
    card("Instances", o.registry.instances, "registry-instances"),
    card("Active instances", o.registry.active, "registry-active"),
    card("Objects", o.registry.objects, "registry-objects"),
    card("Open transactions", o.transactions ? o.transactions.open : "—", "tx-open"),
    card("Calls / s", o.calls ? o.calls.per_second.toFixed(1) : "—", "calls-rate"),
  );
  const node = el("dl", { class: "kv card", id: "node" },
    el("dt", {}, "Node id"), el("dd", { id: "node-id" }, o.node.node_id || "(embedded)"),
    el("dt", {}, "Version"), el("dd", { id: "node-version" }, o.node.version),
    el("dt", {}, "Registry"), el("dd", { id: "node-registry" }, o.node.registry || "—"),
    el("dt", {}, "Coordinator"), el("dd", { id: "node-coordinator" }, o.node.coordinator || "—"),
    el("dt", {}, "Seata front end"), el("dd", { id: "node-seata" }, o.node.seata || "off"),
    el("dt", {}, "Started"), el("dd", { id: "node-started" }, fmtTime(o.node.started_ms)),
  );
  const parts = [el("h1", {}, "Overview"), cards, el("h2", {}, "Node"), node];
  if (o.transactions) {
    const rows = Object.entries(o.transactions.by_status).map(([status, n]) =>
      el("tr", { class: "status-count", "data-status": status },
        el("td", {}, badge(status, statusClass(status), "status")),
        el("td", { class: "num", "data-field": "count" }, n)));
    const apps = Object.entries(o.transactions.by_application).map(([app, n]) =>
      el("tr", { class: "app-count", "data-application": app },
        el("td", {}, el("a", { href: "/transactions?application=" + encodeURIComponent(app) }, app || "(none)")),
        el("td", { class: "num", "data-field": "count" }, n)));
    parts.push(el("h2", {}, "Open transactions by status"),
      rows.length ? table(["Status", { title: "Open", num: true }], rows, { id: "tx-by-status" })
        : el("p", { class: "muted", id: "tx-by-status" }, "No open transactions."),
      el("h2", {}, "By application"),
      apps.length ? table(["Application", { title: "Open", num: true }], apps, { id: "tx-by-application" })
        : el("p", { class: "muted" }, "—"),
      el("p", { class: "muted" }, `Phase two running now: ${o.transactions.in_flight}`));
  }
  if (o.calls) {
    parts.push(el("h2", {}, "Calls per second"),
      el("p", {}, "Requests received since start: ",
        el("strong", { id: "calls-total" }, o.calls.requests_total),
        ` · average over the last ${o.calls.history.length} s: `,
        el("strong", { id: "calls-avg" }, o.calls.per_second_avg.toFixed(2)), "/s"),
      sparkline(o.calls.history));
  }
  if (o.cluster) parts.push(...cluster(o.cluster));
  show(...parts);
}

function cluster(c) {
  if (c.error) return [el("h2", {}, "Cluster"), el("p", { class: "error", id: "cluster-error" }, c.error)];
  const nodes = c.nodes.map(n => el("tr", { class: "cluster-node", "data-node": n.node_id },
    el("td", {}, n.node_id), el("td", {}, n.advertise),
    el("td", { class: "num" }, n.registry_port), el("td", { class: "num" }, n.coordinator_port),
    el("td", { class: "num", "data-field": "leading" }, n.leading), el("td", {}, fmtTime(n.started_ms))));
  const fragments = c.fragments.map(f => el("tr", { class: "fragment", "data-fragment": f.id },
    el("td", { class: "num" }, f.id),
    el("td", { "data-field": "leader" }, f.leader || "(none)"),
    el("td", {}, f.assigned_leader || "—"), el("td", {}, (f.standbys || []).join(", ") || "—"),
    el("td", { class: "num" }, f.epoch ?? "—"), el("td", {}, f.coordinator || "—"),
    el("td", { class: "num", "data-field": "active" }, f.active ?? "—"),
    el("td", { class: "num" }, fmtAge(f.load_age_ms))));
  return [
    el("h2", {}, "Cluster"),
    el("p", {}, "Scheduler: ", el("strong", { id: "cluster-scheduler" }, c.scheduler || "(none)"),
      ` · etcd revision ${c.revision}`),
    table(["Node", "Advertise", { title: "Registry", num: true }, { title: "Coordinator", num: true },
      { title: "Leading", num: true }, "Started"], nodes, { id: "cluster-nodes" }),
    el("h2", {}, "Fragments"),
    table([{ title: "Id", num: true }, "Leader", "Assigned", "Standbys", { title: "Epoch", num: true },
      "Coordinator", { title: "Active tx", num: true }, { title: "Load age", num: true }], fragments,
      { id: "cluster-fragments" }),
  ];
}

// ---- Registry ----
function filtersFrom(fields) {
  const q = new URLSearchParams(location.search);
  const out = {};
  for (const f of fields) out[f] = q.get(f) || "";
  return out;
}

function filterForm(id, inputs, onsubmit) {
  return el("form", { class: "filters", id, onsubmit: e => {
    e.preventDefault();
    const data = new FormData(e.target);
    const q = new URLSearchParams();
    for (const [k, v] of data.entries()) if (v) q.set(k, v);
    history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q : ""));
    onsubmit();
  } }, inputs, el("button", { type: "submit", id: id + "-apply" }, "Apply"));
}

async function registry() {
  const f = filtersFrom(["obj", "region", "active"]);
  const q = new URLSearchParams();
  if (f.obj) q.set("obj", f.obj);
  if (f.region) q.set("region", f.region);
  if (f.active) q.set("active", "true");
  const r = await api("/api/registry?" + q);
  const form = filterForm("registry-filters", [
    el("label", {}, "Object", el("input", { name: "obj", id: "filter-obj", value: f.obj, placeholder: "App.Server.Obj" })),
    el("label", {}, "Region", el("input", { name: "region", id: "filter-region", value: f.region })),
    el("label", {}, "Active only", el("input", { type: "checkbox", name: "active", id: "filter-active", value: "true", checked: !!f.active })),
  ], () => registry().catch(showError));
  const objects = r.objects.map(o => el("section", { class: "object", "data-obj": o.obj },
    el("h2", {}, el("code", {}, o.obj),
      el("span", { class: "badge ok", "data-field": "active-count" }, `${o.active} active`),
      el("span", { class: o.inactive ? "badge bad" : "badge", "data-field": "inactive-count" }, `${o.inactive} inactive`)),
    table(["Endpoint", "State", "Health", "Last heartbeat", "Static meta", "Dynamic meta", "Endpoint fields"],
      o.instances.map(i => el("tr", { class: "instance", "data-obj": i.obj, "data-endpoint": i.endpoint },
        el("td", { class: "mono", "data-field": "endpoint" }, i.endpoint),
        el("td", {}, badge(i.active ? "active" : "inactive", i.active ? "badge ok" : "badge bad", "active")),
        el("td", {}, badge(i.health, i.health === "HEALTHY" ? "badge ok" : i.health === "DEGRADED" ? "badge warn" : "badge bad", "health")),
        el("td", { "data-field": "heartbeat", "data-value": i.last_heartbeat_ms },
          fmtTime(i.last_heartbeat_ms), el("br"), el("span", { class: "muted" }, i.heartbeat_age_ms === null ? "" : fmtAge(i.heartbeat_age_ms) + " ago")),
        el("td", { class: "meta" }, kv(i.meta, "meta")),
        el("td", { class: "meta" }, kv(i.load, "load")),
        el("td", { class: "meta" }, kv(i.endpoint_fields, "ep")))))));
  show(el("h1", {}, "Registry"), form,
    el("p", { class: "muted" }, el("span", { id: "registry-total" }, r.total),
      ` instances · inactive after ${r.heartbeat_timeout_ms} ms without a heartbeat`),
    ...(objects.length ? objects : [el("p", { class: "muted", id: "registry-empty" }, "No instances match.")]));
}

function kv(obj, prefix) {
  return el("dl", { class: "kv" }, Object.entries(obj).flatMap(([k, v]) => {
    let text = v;
    if (v && typeof v === "object") text = Object.entries(v).map(([a, b]) => `${a}=${b}`).join(", ") || "—";
    if (k === "start_time_ms") text = fmtTime(v);
    if (typeof v === "number" && !Number.isInteger(v)) text = v.toFixed(3);
    return [el("dt", {}, k), el("dd", { "data-field": `${prefix}.${k}` }, text === "" ? "—" : text)];
  }));
}

// ---- Transactions ----
const STATUSES = ["Begin", "Committing", "CommitRetrying", "Rollbacking", "RollbackRetrying",
  "TimeoutRollbacking", "TimeoutRollbackRetrying", "AsyncCommitting", "CommitRetryTimeout",
  "RollbackRetryTimeout"];

async function transactions() {
  const f = filtersFrom(["status", "min_age_s", "application"]);
  const q = new URLSearchParams();
  if (f.status) q.set("status", f.status);
  if (f.min_age_s) q.set("min_age_ms", String(Math.round(parseFloat(f.min_age_s) * 1000) || 0));
  if (f.application) q.set("application", f.application);
  const r = await api("/api/transactions?" + q);
  const form = filterForm("tx-filters", [
    el("label", {}, "Status", el("select", { name: "status", id: "filter-status" },
      el("option", { value: "" }, "(any)"),
      STATUSES.map(s => el("option", { value: s, selected: s === f.status }, s)))),
    el("label", {}, "Older than (s)", el("input", { name: "min_age_s", id: "filter-min-age", type: "number", min: "0", step: "any", value: f.min_age_s })),
    el("label", {}, "Application", el("input", { name: "application", id: "filter-application", value: f.application })),
  ], () => transactions().catch(showError));
  const clustered = r.transactions.some(t => t.node != null) || (r.failed && r.failed.length > 0);
  const rows = r.transactions.map(t => el("tr", { class: "tx", "data-xid": t.xid },
    el("td", { class: "mono" }, el("a", { href: "/transactions/" + encodeURIComponent(t.xid), "data-field": "xid" }, t.xid)),
    el("td", { "data-field": "application" }, t.application),
    el("td", { "data-field": "name" }, t.name),
    el("td", { "data-field": "owner" }, t.owner || "(anonymous)"),
    el("td", {}, badge(t.status, statusClass(t.status), "status")),
    el("td", { class: "num", "data-field": "branches" }, t.branches),
    el("td", { class: "num", "data-field": "age", "data-value": t.age_ms }, fmtAge(t.age_ms)),
    el("td", { class: "num", "data-field": "retries" }, t.retry_attempts ?? "—"),
    // Cluster mode: the node leading the transaction's fragment.
    clustered ? el("td", { "data-field": "node" }, t.node ?? "—") : null));
  const failed = r.failed && r.failed.length
    ? el("div", { class: "result error", id: "tx-failed" }, "Nodes that did not answer (their transactions are missing): ",
      el("ul", {}, r.failed.map(f => el("li", { class: "failed-node", "data-node": f.node }, `${f.node}: ${f.error}`))))
    : null;
  show(el("h1", {}, "Transactions"), form, failed,
    el("p", { class: "muted" }, el("span", { id: "tx-count" }, r.transactions.length), " open transactions match"),
    rows.length ? table(["XID", "Application", "Name", "Owner", "Status", { title: "Branches", num: true },
      { title: "Age", num: true }, { title: "Failed runs", num: true }].concat(clustered ? ["Leader"] : []), rows, { id: "tx-table" })
      : el("p", { class: "muted", id: "tx-empty" }, "No open transactions match."));
}

const ACTIONS = {
  "retry": { label: "Retry now", text: "Drive phase two of this transaction again now?" },
  "stop-retrying": { label: "Stop retrying", text: "Stop the retries of this transaction's phase two? It ends as CommitRetryTimeout / RollbackRetryTimeout (stored, retryable later)." },
  "rollback": { label: "Force rollback", text: "Roll back this undecided transaction now? Its TM's commit will fail." },
};

function confirmDialog(text) {
  return new Promise(resolve => {
    const box = document.getElementById("confirm");
    document.getElementById("confirm-text").textContent = text;
    box.hidden = false;
    const done = answer => { box.hidden = true; resolve(answer); };
    document.getElementById("confirm-yes").onclick = () => done(true);
    document.getElementById("confirm-no").onclick = () => done(false);
  });
}

let lastResult = null;

async function transaction() {
  const xid = decodeURIComponent(location.pathname.slice("/transactions/".length));
  let t;
  try {
    t = await api("/api/transactions/" + encodeURIComponent(xid));
  } catch (e) {
    show(el("h1", {}, "Transaction ", el("code", {}, xid)),
      el("p", { class: "error", id: "page-error" }, e.message),
      lastResult ? el("p", { class: "result", id: "action-result" }, lastResult) : null,
      el("p", {}, el("a", { href: "/transactions" }, "All transactions")));
    return;
  }
  const who = window.WHO || {};
  const actions = t.actions.map(a => el("button", {
    type: "button", class: a === "retry" ? "" : "danger", "data-action": a, id: "action-" + a,
    disabled: who.role !== "admin",
    title: who.role !== "admin" ? "needs an admin token" : "",
    onclick: async () => {
      if (!(await confirmDialog(ACTIONS[a].text))) return;
      try {
        const r = await api(`/api/transactions/${encodeURIComponent(xid)}/${a}`,
          { method: "POST", headers: { "X-Tars-Console": "1" } });
        lastResult = r.ok ? `${a}: done, status ${r.status}` : `${a} refused: ${r.message} (status ${r.status})`;
      } catch (e) {
        lastResult = `${a} failed: ${e.message}`;
      }
      transaction().catch(showError);
    } }, ACTIONS[a].label));
  const branches = t.branch_list.map(b => el("tr", { class: "branch", "data-branch-id": b.id },
    el("td", { class: "num", "data-field": "id" }, b.id),
    el("td", { "data-field": "type" }, b.branch_type),
    el("td", { class: "mono", "data-field": "resource" }, b.resource),
    el("td", { class: "mono", "data-field": "client" }, b.client),
    el("td", {}, badge(b.status, /Failed/.test(b.status) ? "badge bad" : "badge", "status")),
    el("td", { class: "mono", "data-field": "lock_keys" }, b.lock_keys || "—")));
  show(
    el("h1", {}, "Transaction ", el("code", { id: "tx-xid" }, t.xid)),
    lastResult ? el("p", { class: "result", id: "action-result" }, lastResult) : null,
    el("dl", { class: "kv card", id: "tx-fields" },
      el("dt", {}, "Status"), el("dd", {}, badge(t.status, statusClass(t.status), "status"), " ", el("span", { id: "tx-status", hidden: true }, t.status)),
      el("dt", {}, "Application"), el("dd", { id: "tx-application" }, t.application),
      el("dt", {}, "Name"), el("dd", { id: "tx-name" }, t.name),
      el("dt", {}, "Owner"), el("dd", { id: "tx-owner" }, t.owner || "(anonymous)"),
      el("dt", {}, "Began"), el("dd", { id: "tx-began" }, fmtTime(t.begin_time_ms), ` (${fmtAge(t.age_ms)} ago)`),
      el("dt", {}, "Timeout"), el("dd", {}, fmtAge(t.timeout_ms)),
      el("dt", {}, "Accepting branches"), el("dd", {}, t.active ? "yes" : "no"),
      el("dt", {}, "Phase two running"), el("dd", { id: "tx-driving" }, t.driving ? "yes" : "no"),
      el("dt", {}, "Failed phase-two runs"), el("dd", { id: "tx-attempts" }, t.retry_attempts ?? "none since start"),
      el("dt", {}, "Next retry"), el("dd", { id: "tx-next-retry" }, t.next_retry_in_ms === null ? "—" : "in " + fmtAge(t.next_retry_in_ms)),
      el("dt", {}, "Operator retry"), el("dd", {}, t.retried_at_ms ? fmtTime(t.retried_at_ms) : "—")),
    el("h2", {}, "Actions"),
    actions.length ? el("div", { class: "buttons", id: "actions" }, actions,
      who.role !== "admin" ? el("span", { class: "muted" }, " Actions need an admin token.") : null)
      : el("p", { class: "muted", id: "actions" }, "None in this status."),
    el("h2", {}, "Branches"),
    branches.length ? table([{ title: "Id", num: true }, "Type", "Resource", "Client", "Status", "Lock keys"], branches, { id: "branches" })
      : el("p", { class: "muted", id: "branches" }, "No branches."),
    el("h2", {}, "Row locks held"),
    t.locks.length ? el("ul", { id: "locks" }, t.locks.map(l => el("li", { class: "lock mono" }, l)))
      : el("p", { class: "muted", id: "locks" }, "None."));
}

// ---- Statistics ----
const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// The smallest 1, 2 or 5 times a power of ten at or above v (the y axis' top).
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtMinute(minute) {
  return new Date(minute * 60000).toISOString().slice(11, 16);
}

// A number for a table: integers as they are, others with `digits` decimals (`fixed`: always).
function fmtNum(v, digits, fixed) {
  if (v === null || v === undefined) return "—";
  return Number.isInteger(v) && !fixed ? String(v) : v.toFixed(digits);
}

// A chart over minutes, as inline SVG: `bars` stacked per minute, or `lines` (null values
// leave a gap); axes with their labels. opts: { id, minutes, yLabel, bars | lines }, each
// series { name, color, values }.
function chart(opts) {
  const w = 660, h = 230, left = 56, right = 12, top = 26, bottom = 40;
  const pw = w - left - right, ph = h - top - bottom;
  const n = opts.minutes.length;
  const series = opts.bars || opts.lines;
  let max = 0;
  for (let i = 0; i < n; i++) {
    if (opts.bars) max = Math.max(max, series.reduce((a, s) => a + (s.values[i] || 0), 0));
    else for (const s of series) if (s.values[i] !== null) max = Math.max(max, s.values[i]);
  }
  const top_ = niceMax(max);
  const slot = pw / Math.max(1, n);
  const x = i => left + slot * (i + 0.5);
  const y = v => top + ph - (v / top_) * ph;
  const svg = svgEl("svg", { class: "chart", id: opts.id, width: w, height: h, viewBox: `0 0 ${w} ${h}`,
    role: "img", "aria-label": opts.title });
  // Grid and y axis.
  for (let k = 0; k <= 4; k++) {
    const v = (top_ * k) / 4;
    svg.append(svgEl("line", { x1: left, x2: w - right, y1: y(v), y2: y(v), stroke: k ? "#e4e8ef" : "#8a94a6" }));
    svg.append(svgEl("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, fmtNum(v, 1)));
  }
  svg.append(svgEl("line", { x1: left, x2: left, y1: top, y2: top + ph, stroke: "#8a94a6" }));
  svg.append(svgEl("text", { x: 14, y: top + ph / 2, transform: `rotate(-90 14 ${top + ph / 2})`,
    "text-anchor": "middle", class: "axis-label" }, opts.yLabel));
  // X axis: about six minute labels.
  const every = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < n; i++) {
    if (i % every !== 0 && i !== n - 1) continue;
    svg.append(svgEl("line", { x1: x(i), x2: x(i), y1: top + ph, y2: top + ph + 4, stroke: "#8a94a6" }));
    svg.append(svgEl("text", { x: x(i), y: top + ph + 16, "text-anchor": "middle", class: "tick" }, fmtMinute(opts.minutes[i])));
  }
  svg.append(svgEl("text", { x: left + pw / 2, y: h - 4, "text-anchor": "middle", class: "axis-label" }, "minute (UTC)"));
  if (opts.bars) {
    const bw = Math.max(1, Math.min(28, slot * 0.7));
    for (let i = 0; i < n; i++) {
      let base = 0;
      for (const s of series) {
        const v = s.values[i] || 0;
        if (v > 0) {
          const r = svgEl("rect", { x: x(i) - bw / 2, y: y(base + v), width: bw, height: y(base) - y(base + v),
            fill: s.color, "data-series": s.name, "data-minute": opts.minutes[i], "data-value": v });
          r.append(svgEl("title", {}, `${fmtMinute(opts.minutes[i])} ${s.name}: ${v}`));
          svg.append(r);
        }
        base += v;
      }
    }
  } else {
    for (const s of series) {
      let d = "", pen = false;
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
        const c = svgEl("circle", { cx: x(i), cy: y(v), r: 3, fill: s.color, "data-series": s.name,
          "data-minute": opts.minutes[i], "data-value": v });
        c.append(svgEl("title", {}, `${fmtMinute(opts.minutes[i])} ${s.name}: ${fmtNum(v, 2)}`));
        svg.append(c);
      });
      if (d) svg.append(svgEl("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "data-series": s.name }));
    }
  }
  // Legend.
  let lx = left;
  for (const s of series) {
    svg.append(svgEl("rect", { x: lx, y: 8, width: 10, height: 10, fill: s.color }));
    const t = svgEl("text", { x: lx + 14, y: 17, class: "legend" }, s.name);
    svg.append(t);
    lx += 24 + s.name.length * 7;
  }
  return svg;
}

const RANGES = [15, 60, 360];

function statParams() {
  const q = new URLSearchParams(location.search);
  const get = k => (q.get(k) || "").trim();
  return { servant: get("servant"), interface: get("interface"), side: get("side"), minutes: get("minutes"),
    from: get("from"), to: get("to"), module: get("module"), property: get("property") };
}

function setStatParams(p) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) if (v) q.set(k, v);
  history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q : ""));
}

function rangeQuery(p) {
  const q = new URLSearchParams();
  if (p.from && p.to) { q.set("from", p.from); q.set("to", p.to); }
  else q.set("minutes", p.minutes || "15");
  return q;
}

function select(id, name, value, options, onchange) {
  return el("label", {}, name, el("select", { id, onchange }, options.map(([v, text]) =>
    el("option", { value: v, selected: v === value }, text))));
}

function failedNodes(failed) {
  if (!failed || !failed.length) return null;
  return el("div", { class: "result error", id: "stat-failed" }, "Nodes that did not answer (their rows are missing): ",
    el("ul", {}, failed.map(f => el("li", { class: "failed-node", "data-node": f.node }, `${f.node}: ${f.error}`))));
}

async function stat() {
  const p = statParams();
  const q = rangeQuery(p);
  if (p.servant) q.set("servant", p.servant);
  if (p.interface) q.set("interface", p.interface);
  if (p.side) q.set("side", p.side);
  const s = await api("/api/stat?" + q);
  const rerender = change => { Object.assign(p, change); setStatParams(p); stat().catch(showError); };
  const servants = Object.keys(s.servants);
  const interfaces = p.servant ? (s.servants[p.servant] || []) : [...new Set(Object.values(s.servants).flat())].sort();
  const custom = p.from && p.to;
  const form = el("form", { class: "filters", id: "stat-filters", onsubmit: e => e.preventDefault() },
    select("stat-servant", "Servant", p.servant, [["", "(all)"], ...servants.map(v => [v, v])],
      e => rerender({ servant: e.target.value, interface: "" })),
    select("stat-interface", "Interface", p.interface, [["", "(all)"], ...interfaces.map(v => [v, v])],
      e => rerender({ interface: e.target.value })),
    select("stat-side", "Reported by", s.side, [["server", "server (callee)"], ["client", "client (caller)"]],
      e => rerender({ side: e.target.value })),
    select("stat-range", "Time range", custom ? "custom" : (p.minutes || "15"),
      [...(custom ? [["custom", `${fmtMinute(+p.from)}–${fmtMinute(+p.to)} UTC`]] : []), ...RANGES.map(m => [String(m), `last ${m} minutes`])],
      e => rerender({ minutes: e.target.value === "custom" ? p.minutes : e.target.value, from: "", to: "" })));
  const minutes = s.total.map(m => m.minute);
  const callsChart = chart({ id: "chart-calls", title: "Calls per minute", minutes, yLabel: "calls / minute", bars: [
    { name: "successes", color: "#2e9d55", values: s.total.map(m => m.successes) },
    { name: "timeouts", color: "#e09a1a", values: s.total.map(m => m.timeouts) },
    { name: "exceptions", color: "#c8372d", values: s.total.map(m => m.exceptions) },
  ] });
  const latencyChart = chart({ id: "chart-latency", title: "Latency", minutes, yLabel: "ms", lines: [
    { name: "p50", color: "#2456c7", values: s.total.map(m => m.p50_ms) },
    { name: "p99", color: "#8e3bb5", values: s.total.map(m => m.p99_ms) },
  ] });
  const active = s.total.filter(m => m.calls > 0);
  const sum = f => s.total.reduce((a, m) => a + m[f], 0);
  const callRows = active.map(m => el("tr", { class: "stat-minute", "data-minute": m.minute },
    el("td", {}, fmtMinute(m.minute)),
    ["calls", "successes", "timeouts", "exceptions"].map(f => el("td", { class: "num", "data-field": f }, m[f]))));
  const callTable = table(["Minute", { title: "Calls", num: true }, { title: "Successes", num: true },
    { title: "Timeouts", num: true }, { title: "Exceptions", num: true }],
  [...callRows, el("tr", { class: "stat-total" }, el("th", {}, "Total"),
    ["calls", "successes", "timeouts", "exceptions"].map(f => el("th", { class: "num", "data-field": f }, sum(f))))],
  { id: "stat-calls-table", class: "small" });
  const latencyRows = active.filter(m => m.successes > 0).map(m => el("tr", { class: "stat-latency", "data-minute": m.minute },
    el("td", {}, fmtMinute(m.minute)),
    ["p50_ms", "p99_ms", "avg_ms"].map(f => el("td", { class: "num", "data-field": f, "data-value": m[f] }, fmtNum(m[f], 1, true))),
    el("td", { class: "num", "data-field": "max_ms" }, fmtNum(m.max_ms, 0))));
  const latencyTable = latencyRows.length
    ? table(["Minute", { title: "p50 ms", num: true }, { title: "p99 ms", num: true }, { title: "avg ms", num: true },
      { title: "max ms", num: true }], latencyRows, { id: "stat-latency-table", class: "small" })
    : el("p", { class: "muted", id: "stat-latency-table" }, "No response times reported in this range.");
  const seriesRows = s.series.map(x => el("tr", { class: "stat-series", "data-servant": x.servant, "data-interface": x.interface },
    el("td", { class: "mono" }, el("a", { href: "#", "data-field": "servant", onclick: e => { e.preventDefault(); rerender({ servant: x.servant, interface: x.interface }); } }, x.servant)),
    el("td", { class: "mono", "data-field": "interface" }, x.interface),
    ["calls", "successes", "timeouts", "exceptions"].map(f => el("td", { class: "num", "data-field": f }, x.totals[f])),
    el("td", { class: "num", "data-field": "p50_ms" }, fmtNum(x.totals.p50_ms, 1, true)),
    el("td", { class: "num", "data-field": "p99_ms" }, fmtNum(x.totals.p99_ms, 1, true))));
  const what = (p.servant || "every servant") + (p.interface ? " · " + p.interface : "") + ` · reported by the ${s.side}s`;
  const parts = [
    el("h1", {}, "Statistics"), form, failedNodes(s.failed),
    el("p", { class: "muted", id: "stat-selection" }, what, ` · ${fmtMinute(s.from_minute)}–${fmtMinute(s.to_minute)} UTC`,
      ` (${s.to_minute - s.from_minute} minutes, ${active.length} with calls)`),
    el("div", { class: "charts" },
      el("section", { class: "chart-box" }, el("h2", {}, "Calls per minute"), callsChart, callTable),
      el("section", { class: "chart-box" }, el("h2", {}, "Latency"), latencyChart, latencyTable)),
    el("h2", {}, "Servants and interfaces"),
    seriesRows.length ? table(["Servant", "Interface", { title: "Calls", num: true }, { title: "Successes", num: true },
      { title: "Timeouts", num: true }, { title: "Exceptions", num: true }, { title: "p50 ms", num: true },
      { title: "p99 ms", num: true }], seriesRows, { id: "stat-series" })
      : el("p", { class: "muted", id: "stat-series" }, "No calls reported in this range."),
  ];
  // Properties: one module and property at a time (the first reported unless chosen).
  const modules = Object.keys(s.properties);
  const module = p.module && s.properties[p.module] ? p.module : (modules[0] || "");
  const props = module ? Object.keys(s.properties[module]) : [];
  const property = p.property && props.includes(p.property) ? p.property : (props[0] || "");
  parts.push(el("h2", {}, "Properties"));
  if (!module) {
    parts.push(el("p", { class: "muted", id: "stat-properties" }, "No properties reported in this range."));
  } else {
    const pq = rangeQuery(p);
    pq.set("module", module);
    pq.set("property", property);
    const r = await api("/api/stat/properties?" + pq);
    parts.push(el("form", { class: "filters", id: "prop-filters", onsubmit: e => e.preventDefault() },
      select("stat-module", "Module", module, modules.map(v => [v, v]), e => rerender({ module: e.target.value, property: "" })),
      select("stat-property", "Property", property, props.map(v => [v, v]), e => rerender({ module, property: e.target.value }))),
    failedNodes(r.failed));
    const boxes = r.series.map((x, i) => {
      const reported = x.points.filter(pt => pt.value !== null);
      return el("section", { class: "chart-box property", "data-module": x.module, "data-property": x.property, "data-policy": x.policy },
        el("h2", {}, `${x.property} · ${x.policy}`),
        chart({ id: `chart-prop-${i}`, title: `${x.module} ${x.property} ${x.policy}`, minutes: x.points.map(pt => pt.minute),
          yLabel: x.policy, lines: [{ name: `${x.property} (${x.policy})`, color: "#2456c7", values: x.points.map(pt => pt.value) }] }),
        table(["Minute", { title: "Value", num: true }, "Reported"], reported.map(pt =>
          el("tr", { class: "prop-minute", "data-minute": pt.minute },
            el("td", {}, fmtMinute(pt.minute)),
            el("td", { class: "num", "data-field": "value", "data-value": pt.value }, fmtNum(pt.value, 2)),
            el("td", { class: "mono", "data-field": "raw" }, pt.raw))), { class: "small" }));
    });
    parts.push(el("div", { class: "charts", id: "stat-properties" }, boxes));
  }
  show(...parts);
  document.body.dataset.statQuery = q.toString() + (module ? `&module=${encodeURIComponent(module)}&property=${encodeURIComponent(property)}` : "");
}

async function start() {
  const nav = document.getElementById("nav");
  const current = PAGE === "transaction" ? "transactions" : PAGE;
  nav.replaceChildren(...NAV.map(n => el("a", { href: n.href, class: n.page === current ? "current" : "" }, n.title)));
  try {
    window.WHO = await api("/api/whoami");
    document.getElementById("who").replaceChildren(
      `${window.WHO.name} (${window.WHO.role})`, el("a", { href: "/logout" }, "sign out"));
  } catch (e) { showError(e); return; }
  const pages = { overview, registry, transactions, transaction, stat };
  const render = pages[PAGE];
  if (!render) return;
  await render().catch(showError);
  document.body.dataset.loaded = "1";
  if (PAGE === "overview") setInterval(() => overview().catch(showError), 2000);
}

start();
