#include "gateway/admin/status_page.hpp"

namespace sluice::admin {

namespace {

constexpr const char* kHead = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice status</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
.ok { color: #0a7d28; font-weight: 600; }
.bad { color: #c0141c; font-weight: 600; }
.dot { display: inline-block; width: .7em; height: .7em; border-radius: 50%; margin-right: .4em; }
.dot.ok { background: #18a53c; } .dot.bad { background: #d8262e; }
td.state { min-width: 8em; max-width: 22em; }
.err { color: #c0141c; font-family: ui-monospace, monospace; font-size: .9em; }
.muted { color: #777; }
#meta span { margin-right: 1.2em; }
#notready, #reload { margin: .5em 0; padding: .4em .7em; background: #fff; border-left: 4px solid #d8262e; }
#reload.ok { border-left-color: #18a53c; }
#notready:empty, #reload:empty { display: none; }
#notready ul, #reload ul { margin: .2em 0 0; padding-left: 1.4em; }
svg.spark { display: block; background: #f6f8fa; border: 1px solid #e4e4e4; }
svg.spark polyline { fill: none; stroke-width: 1.5; }
svg.spark.sessions polyline { stroke: #2f6fd0; }
svg.spark.throughput polyline { stroke: #c26a00; }
.chart { white-space: nowrap; }
.chart small { color: #555; }
#control { margin: .8em 0; padding: .5em .7em; background: #fff; border: 1px solid #e4e4e4; }
#control input { font: inherit; width: 18em; }
#control-msg { margin-top: .3em; }
#control-msg:empty { display: none; }
button.drain, button.resume { font: inherit; padding: .1em .6em; cursor: pointer; }
.drained { color: #b35c00; font-weight: 600; margin-right: .5em; }
</style>
</head>
<body>
<h1>sluice <span id="region"></span></h1>
<div id="meta">
  <span>version: <b id="version"></b></span>
  <span>up: <b id="uptime"></b></span>
  <span>readiness: <b id="ready"></b></span>
  <span>config generation: <b id="generation"></b></span>
  <span>public addresses: <b id="public"></b></span>
  <span>active sessions: <b id="active"></b></span>
  <span>accepted: <b id="accepted"></b></span>
  <span class="muted">updated <span id="updated"></span></span>
</div>
<div id="notready"></div>
<div id="reload"></div>
<form id="control" autocomplete="off" onsubmit="return false">
  <label>Admin token for drain / resume: <input type="password" id="token" name="token" autocomplete="off" spellcheck="false" placeholder="contents of admin.token_file"></label>
  <span class="muted">kept in this page only, sent as an Authorization header; never stored or put in a URL</span>
  <div id="control-msg" role="status"></div>
</form>
<h2>Listeners</h2>
<table id="listeners"><thead><tr><th>name</th><th>address</th><th>TLS</th><th>allow</th><th>accepted</th><th>closed (by reason)</th><th>control</th></tr></thead><tbody></tbody></table>
<h2>Routes</h2>
<table id="routes"><thead><tr><th>name</th><th>health</th><th>match</th><th>upstream</th><th>via</th><th>sslmode</th><th>open</th><th>ended</th><th>bytes in / out</th><th>sessions, 15 min</th><th>throughput, 15 min</th><th>control</th></tr></thead><tbody></tbody></table>
<h2>Pools</h2>
<table id="pools"><thead><tr><th>route</th><th>user</th><th>database</th><th>size</th><th>idle</th><th>in use</th><th>waiting</th><th>reused</th><th>wait timeouts</th><th>mean wait (ms)</th><th>closed (by reason)</th></tr></thead><tbody></tbody></table>
<h2>Tunnels</h2>
<table id="tunnels"><thead><tr><th>name</th><th>state</th><th>bastion</th><th>since</th><th>channels</th><th>reconnects</th><th>bytes in / out</th><th>channels, 15 min</th><th>throughput, 15 min</th><th>last error</th></tr></thead><tbody></tbody></table>
<h2>Syncs</h2>
<table id="syncs"><thead><tr><th>name</th><th>state</th><th>schema</th><th>last sequence</th><th>lag (s)</th><th>batches</th><th>records</th><th>last error</th></tr></thead><tbody></tbody></table>
<script>
)HTML";

constexpr const char* kScript = R"JS(
function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null ? '' : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}
function stateCell(tr, good, label) {
  const td = document.createElement('td');
  td.className = 'state';
  const dot = document.createElement('span');
  dot.className = 'dot ' + (good ? 'ok' : 'bad');
  td.appendChild(dot);
  const s = document.createElement('span');
  s.className = good ? 'ok' : 'bad';
  s.textContent = label;
  td.appendChild(s);
  tr.appendChild(td);
}
// 1536 -> "1.5 KiB": powers of 1024, as `ls -h` and Prometheus' bytes unit.
function human(n) {
  n = Number(n || 0);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; ++i; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}
function duration(s) {
  s = Math.floor(Number(s || 0));
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  if (m) return m + 'm ' + (s % 60) + 's';
  return s + 's';
}
// A small inline SVG line chart of `values` (one per sample) over the window.
const SVGNS = 'http://www.w3.org/2000/svg';
function spark(values, kind, label) {
  const w = 180, h = 32, pad = 2;
  const svg = document.createElementNS(SVGNS, 'svg');
  svg.setAttribute('class', 'spark ' + kind);
  svg.setAttribute('width', w); svg.setAttribute('height', h);
  svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  values = values || [];
  svg.dataset.points = values.length;
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0;
  const pts = values.map((v, i) =>
      (pad + i * step).toFixed(1) + ',' + (h - pad - (v / max) * (h - 2 * pad)).toFixed(1));
  const line = document.createElementNS(SVGNS, 'polyline');
  line.setAttribute('points', pts.join(' '));
  svg.appendChild(line);
  const title = document.createElementNS(SVGNS, 'title');
  title.textContent = label(max) + ' at most in the last ' + values.length + ' samples';
  svg.appendChild(title);
  return svg;
}
function chartCell(tr, values, kind, label) {
  const td = document.createElement('td');
  td.className = 'chart';
  td.appendChild(spark(values, kind, label));
  const now = document.createElement('small');
  now.textContent = values && values.length ? 'now ' + label(values[values.length - 1]) +
      ', max ' + label(Math.max(...values)) : 'no samples yet';
  td.appendChild(now);
  tr.appendChild(td);
}
// Drain / resume: "draining" and a resume button, or a drain button. The click is
// handled by the listener on the document (rows are rebuilt on every poll).
function controlCell(tr, kind, name, drained) {
  const td = document.createElement('td');
  td.className = 'control';
  if (drained) {
    const s = document.createElement('span');
    s.className = 'drained';
    s.textContent = 'draining';
    td.appendChild(s);
  }
  const b = document.createElement('button');
  b.type = 'button';
  b.className = drained ? 'resume' : 'drain';
  b.textContent = drained ? 'resume' : 'drain';
  b.dataset.kind = kind;
  b.dataset.name = name;
  td.appendChild(b);
  tr.appendChild(td);
}
function say(good, text) {
  const msg = document.getElementById('control-msg');
  msg.className = good ? 'ok' : 'bad';
  msg.textContent = text;
}
// The admin API wants the bearer token in the Authorization header: a page of another
// origin can neither send it in a plain form post nor read the token from this page.
async function control(kind, name, action) {
  const field = document.getElementById('token');
  const token = field.value.trim();
  const what = (kind === 'routes' ? 'route ' : 'listener ') + name;
  if (!token) {
    say(false, 'Enter the admin token (the contents of admin.token_file) to ' + action + ' ' + what + '.');
    field.focus();
    return;
  }
  try {
    const r = await fetch('v1/' + kind + '/' + encodeURIComponent(name) + '/' + action, {
      method: 'POST', cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
      headers: {'Authorization': 'Bearer ' + token}});
    let body = {};
    try { body = await r.json(); } catch (e) { body = {}; }
    if (r.ok)
      say(true, action === 'drain'
          ? what + ' drained: new connections are refused, ' + (body.sessions || 0) +
            ' open session(s) continue'
          : what + ' resumed: new connections are accepted');
    else
      say(false, action + ' ' + what + ' failed: HTTP ' + r.status + ': ' + (body.error || r.statusText));
  } catch (e) {
    say(false, action + ' ' + what + ' failed: the gateway did not answer (' + e + ')');
  }
  poll();
}
document.addEventListener('click', ev => {
  const b = ev.target.closest && ev.target.closest('button.drain, button.resume');
  if (b) control(b.dataset.kind, b.dataset.name, b.className);
});
const rate = v => human(v) + '/s';
const count = v => String(Math.round(v));
function fill(id, rows, rowClass, build) {
  const body = document.querySelector('#' + id + ' tbody');
  body.textContent = '';
  for (const r of rows || []) {
    const tr = document.createElement('tr');
    tr.className = rowClass;
    tr.dataset.name = r.name;
    build(tr, r);
    body.appendChild(tr);
  }
  if (!rows || rows.length === 0) {
    const tr = document.createElement('tr');
    cell(tr, 'none configured', 'muted');
    body.appendChild(tr);
  }
}
function list(parent, heading, items, cls) {
  parent.textContent = '';
  const b = document.createElement('b');
  b.textContent = heading;
  parent.appendChild(b);
  if (items && items.length) {
    const ul = document.createElement('ul');
    for (const it of items) {
      const li = document.createElement('li');
      li.textContent = it;
      if (cls) li.className = cls;
      ul.appendChild(li);
    }
    parent.appendChild(ul);
  }
}
function render(s) {
  document.getElementById('region').textContent = s.region ? '— ' + s.region : '';
  document.getElementById('version').textContent = s.version || '?';
  document.getElementById('uptime').textContent = duration(s.uptime_seconds);
  const ready = document.getElementById('ready');
  ready.textContent = s.ready ? 'ready' : 'not ready';
  ready.className = s.ready ? 'ok' : 'bad';
  const notready = document.getElementById('notready');
  if (s.ready) notready.textContent = '';
  else list(notready, 'Not ready because:', s.ready_reasons || []);
  const reload = document.getElementById('reload');
  const lr = s.last_reload;
  if (!lr) {
    reload.textContent = '';
  } else {
    reload.className = lr.ok ? 'ok' : 'bad';
    list(reload, 'Last reload ' + new Date(lr.at * 1000).toLocaleString() + ': ' +
        (lr.ok ? 'ok, generation ' + lr.generation : 'FAILED, kept generation ' + lr.generation),
        lr.problems || [], 'err');
  }
  const hist = s.history || {routes: {}, tunnels: {}};
  document.getElementById('generation').textContent = s.generation;
  document.getElementById('public').textContent = (s.public_addresses || []).join(', ') || '—';
  document.getElementById('active').textContent = s.connections.active;
  document.getElementById('accepted').textContent = s.connections.accepted;
  document.getElementById('updated').textContent = new Date().toLocaleTimeString();
  fill('listeners', s.listeners, 'listener-row', (tr, l) => {
    cell(tr, l.name); cell(tr, l.address); cell(tr, l.tls);
    cell(tr, (l.allow || []).join(', ') || 'everyone'); cell(tr, l.accepted);
    cell(tr, Object.entries(l.closed || {}).map(([k, v]) => k + ': ' + v).join(', '));
    controlCell(tr, 'listeners', l.name, l.drained);
  });
  fill('routes', s.routes, 'route-row', (tr, r) => {
    const m = r.match || {};
    const h = r.health || {healthy: true, reasons: []};
    cell(tr, r.name);
    stateCell(tr, h.healthy, h.healthy ? 'healthy' : (h.reasons || []).join('; '));
    cell(tr, Object.entries(m).filter(([, v]) => v).map(([k, v]) => k + '=' + v).join(' ') || 'any');
    cell(tr, r.upstream); cell(tr, r.via || 'direct'); cell(tr, r.sslmode);
    cell(tr, r.active_sessions); cell(tr, r.sessions);
    cell(tr, human(r.bytes_client_to_server) + ' / ' + human(r.bytes_server_to_client), 'bytes');
    const series = (hist.routes || {})[r.name] || {};
    chartCell(tr, series.sessions, 'sessions', count);
    chartCell(tr, series.bytes_per_second, 'throughput', rate);
    controlCell(tr, 'routes', r.name, r.drained);
  });
  fill('pools', s.pools, 'pool-row', (tr, p) => {
    cell(tr, p.route); cell(tr, p.user); cell(tr, p.database); cell(tr, p.size);
    cell(tr, p.idle); cell(tr, p.in_use); cell(tr, p.waiting); cell(tr, p.reused);
    cell(tr, p.wait_timeouts); cell(tr, p.waits ? (1000 * p.wait_seconds_sum / p.waits).toFixed(1) : '0');
    cell(tr, Object.entries(p.closed || {}).map(([k, v]) => k + ': ' + v).join(', '));
  });
  fill('tunnels', s.tunnels, 'tunnel-row', (tr, t) => {
    cell(tr, t.name); stateCell(tr, t.state === 'up', t.state); cell(tr, t.bastion);
    cell(tr, t.since); cell(tr, t.open_channels); cell(tr, t.reconnects);
    cell(tr, human(t.bytes_in) + ' / ' + human(t.bytes_out), 'bytes');
    const series = (hist.tunnels || {})[t.name] || {};
    chartCell(tr, series.sessions, 'sessions', count);
    chartCell(tr, series.bytes_per_second, 'throughput', rate);
    cell(tr, t.last_error ? (t.last_error_stage ? t.last_error_stage + ': ' : '') + t.last_error : '', 'err');
  });
  fill('syncs', s.syncs, 'sync-row', (sr, y) => {
    const good = !y.last_error && y.connected !== false;
    cell(sr, y.name); stateCell(sr, good, good ? 'ok' : (y.connected === false ? 'disconnected' : 'error'));
    cell(sr, y.schema); cell(sr, y.last_sequence >= 0 ? y.last_sequence : '—'); cell(sr, Number(y.lag_seconds || 0).toFixed(1));
    cell(sr, y.batches); cell(sr, y.records); cell(sr, y.last_error, 'err');
  });
}
async function poll() {
  try {
    const r = await fetch('v1/status', {cache: 'no-store'});
    if (r.ok) render(await r.json());
  } catch (e) {
    const ready = document.getElementById('ready');
    ready.textContent = 'unreachable'; ready.className = 'bad';
  }
}
render(initialStatus);
setInterval(poll, 3000);
</script>
</body>
</html>
)JS";

}  // namespace

std::string render_status_page(const nlohmann::json& initial_status) {
  // "</" inside a <script> would end it early; JSON allows "<\/" for the same text.
  std::string json = initial_status.dump();
  std::string safe;
  safe.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/')
      safe += "<\\";
    else
      safe += json[i];
  }
  return std::string(kHead) + "const initialStatus = " + safe + ";\n" + kScript;
}

}  // namespace sluice::admin
