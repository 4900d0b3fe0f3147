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
td.state { white-space: nowrap; }
.err { color: #c0141c; font-family: ui-monospace, monospace; font-size: .9em; }
.muted { color: #777; }
#meta span { margin-right: 1.2em; }
</style>
</head>
<body>
<h1>sluice <span id="region"></span></h1>
<div id="meta">
  <span>readiness: <b id="ready"></b></span>
  <span>config generation: <b id="generation"></b></span>
  <span>public addresses: <b id="public"></b></span>
  <span>active sessions: <b id="active"></b></span>
  <span>accepted: <b id="accepted"></b></span>
  <span class="muted">updated <span id="updated"></span></span>
</div>
<h2>Listeners</h2>
<table id="listeners"><thead><tr><th>name</th><th>address</th><th>TLS</th><th>allow</th><th>accepted</th><th>closed (by reason)</th></tr></thead><tbody></tbody></table>
<h2>Routes</h2>
<table id="routes"><thead><tr><th>name</th><th>health</th><th>match</th><th>upstream</th><th>via</th><th>sslmode</th><th>sessions</th><th>bytes in / out</th></tr></thead><tbody></tbody></table>
<h2>Pools</h2>
<table id="pools"><thead><tr><th>route</th><th>user</th><th>database</th><th>size</th><th>idle</th><th>in use</th><th>waiting</th><th>reused</th><th>wait timeouts</th><th>mean wait (ms)</th><th>closed (by reason)</th></tr></thead><tbody></tbody></table>
<h2>Tunnels</h2>
<table id="tunnels"><thead><tr><th>name</th><th>state</th><th>bastion</th><th>since</th><th>channels</th><th>reconnects</th><th>last error</th></tr></thead><tbody></tbody></table>
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
function render(s) {
  document.getElementById('region').textContent = s.region ? '— ' + s.region : '';
  const ready = document.getElementById('ready');
  ready.textContent = s.ready ? 'ready' : 'not ready';
  ready.className = s.ready ? 'ok' : 'bad';
  document.getElementById('generation').textContent = s.generation;
  document.getElementById('public').textContent = (s.public_addresses || []).join(', ') || '—';
  document.getElementById('active').textContent = s.connections.active;
  document.getElementById('accepted').textContent = s.connections.accepted;
  document.getElementById('updated').textContent = new Date().toLocaleTimeString();
  fill('listeners', s.listeners, 'listener-row', (tr, l) => {
    cell(tr, l.name); cell(tr, l.address); cell(tr, l.tls);
    cell(tr, (l.allow || []).join(', ') || 'everyone'); cell(tr, l.accepted);
    cell(tr, Object.entries(l.closed || {}).map(([k, v]) => k + ': ' + v).join(', '));
  });
  fill('routes', s.routes, 'route-row', (tr, r) => {
    const m = r.match || {};
    const h = r.health || {healthy: true, reasons: []};
    cell(tr, r.name);
    stateCell(tr, h.healthy, h.healthy ? 'healthy' : (h.reasons || []).join('; '));
    cell(tr, Object.entries(m).filter(([, v]) => v).map(([k, v]) => k + '=' + v).join(' ') || 'any');
    cell(tr, r.upstream); cell(tr, r.via || 'direct'); cell(tr, r.sslmode); cell(tr, r.sessions);
    cell(tr, r.bytes_client_to_server + ' / ' + r.bytes_server_to_client);
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
