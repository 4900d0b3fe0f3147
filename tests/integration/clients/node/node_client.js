// node-postgres (npm `pg`, with pg-copy-streams) through sluice: run by terminate_matrix_test.cpp.
//
// Usage: node node_client.js CONFIG_JSON EXPECT_USER EXPECT_DB_TLS(t|f)
// CONFIG_JSON is pg.Client's config; an "ssl.ca_file" key is read into ssl.ca. The password
// comes from PGPASSWORD. Prints one "ok NAME" line per check; exits non-zero on the first
// failure.
'use strict';
const fs = require('fs');
const assert = require('assert');
const { Client } = require('pg');
const { from: copyFrom, to: copyTo } = require('pg-copy-streams');
const { pipeline } = require('stream/promises');
const { Readable, Writable } = require('stream');

const ok = (name) => console.log('ok ' + name);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The promise's value, or `fallback` after ms; the timer never keeps the process alive.
const within = (promise, ms, fallback) => {
  let timer;
  const timeout = new Promise((r) => { timer = setTimeout(() => r(fallback), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};

async function main() {
  const config = JSON.parse(process.argv[2]);
  const expectUser = process.argv[3];
  const expectTls = process.argv[4] === 't';
  if (config.ssl && config.ssl.ca_file) {
    config.ssl.ca = fs.readFileSync(config.ssl.ca_file, 'utf8');
    delete config.ssl.ca_file;
  }
  const conn = new Client(config);
  const other = new Client(config);
  await conn.connect();
  await other.connect();

  let r = await conn.query('select $1::int + $2::int as n', [40, 2]);
  assert.strictEqual(r.rows[0].n, 42);
  r = await conn.query('select current_user::text as u, ssl from pg_stat_ssl where pid = pg_backend_pid()');
  assert.strictEqual(r.rows[0].u, expectUser);
  assert.strictEqual(r.rows[0].ssl, expectTls);
  ok('query');

  // A named prepared statement: Parse once, then Bind/Execute by name.
  for (let i = 1; i <= 5; i++) {
    r = await conn.query({ name: 'twice', text: 'select $1::int * 2 as n, $2::text as t', values: [i, 'v' + i] });
    assert.deepStrictEqual(r.rows[0], { n: 2 * i, t: 'v' + i });
  }
  ok('prepared');

  await conn.query('create temp table node_copy(id int, name text)');
  let data = '';
  for (let i = 1; i <= 20000; i++) data += i + '\trow-' + i + '\n';
  await pipeline(Readable.from([data]), conn.query(copyFrom('copy node_copy from stdin')));
  r = await conn.query('select count(*)::int as n from node_copy');
  assert.strictEqual(r.rows[0].n, 20000);
  const chunks = [];
  await pipeline(conn.query(copyTo('copy (select * from node_copy order by id) to stdout')),
    new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }));
  assert.strictEqual(Buffer.concat(chunks).toString(), data);
  ok('copy');

  const got = new Promise((resolve) => conn.on('notification', (n) => resolve(n.payload)));
  await conn.query('listen node_ch');
  await other.query("notify node_ch, 'from-other'");
  assert.strictEqual(await within(got, 10000, 'timeout'), 'from-other');
  ok('notify');

  // Client.cancel sends a CancelRequest with the key this session got, on a new connection.
  const sleeper = conn.query('select pg_sleep(30)');
  const outcome = sleeper.then(() => 'finished', (e) => e.message);
  for (let i = 0; i < 200; i++) {
    r = await other.query("select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(30)'");
    if (r.rows[0].n === 1) break;
    await sleep(50);
  }
  const t0 = Date.now();
  new Client(config).cancel(conn, conn.activeQuery);
  const message = await within(outcome, 5000, 'not cancelled');
  const took = Date.now() - t0;
  console.log('cancel took ' + took + ' ms: ' + message);
  assert.match(message, /canceling statement due to user request/);
  assert.ok(took < 1500, 'cancel took ' + took + ' ms');
  r = await conn.query("select 'alive' as a");
  assert.strictEqual(r.rows[0].a, 'alive');
  ok('cancel');

  await other.end();
  await conn.end();
  ok('all');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
