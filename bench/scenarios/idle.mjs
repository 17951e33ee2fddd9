// Scenario 4 — idle cost: a started World with its queue handlers registered and nothing to do.
// Statements/s come from the loopback proxy (exact), commits/s from pg_stat_database, open
// connections from pg_stat_activity (the World's database holds nothing else).
import http from 'node:http';
import { adminSql, BASE_URL, connectionsOf, DATABASES, dbCounters, dbUrl, progress, sleep, viaPort } from '../lib/common.mjs';
import { startCountingProxy } from '../lib/pgproxy.mjs';
import { openTarget } from '../lib/targets.mjs';

export async function run({ target, seconds = 20, settleMs = 3_000 }) {
  const database = DATABASES[target];
  const url = dbUrl(database);
  const proxy = await startCountingProxy(url, { captureText: true });
  const monitor = adminSql(BASE_URL);
  // The anchor delivers over HTTP to the app and starts its worker only once the app's port
  // answers: give it a port that answers (nothing is ever delivered).
  const app = http.createServer((_req, res) => res.end('{"ok":true}'));
  await new Promise((r) => app.listen(0, '127.0.0.1', r));
  process.env.PORT = String(app.address().port);

  const { world, close } = await openTarget(target, { url: viaPort(url, proxy.port), poolSize: 10 });
  try {
    world.createQueueHandler('__wkf_workflow_', async () => {});
    world.createQueueHandler('__wkf_step_', async () => {});
    await world.start();
    progress(`idle ${target}: started, settling`);
    await sleep(settleMs);
    const p0 = proxy.snapshot();
    const t0texts = proxy.texts();
    const c0 = await dbCounters(monitor, database);
    const t0 = Date.now();
    const samples = [];
    while (Date.now() - t0 < seconds * 1000) {
      await sleep(Math.min(5_000, seconds * 1000 - (Date.now() - t0)));
      samples.push((await connectionsOf(monitor, database)).total);
      progress(`idle ${target}: ${Math.round((Date.now() - t0) / 1000)}/${seconds} s`);
    }
    const elapsed = (Date.now() - t0) / 1000;
    const p1 = proxy.snapshot();
    const c1 = await dbCounters(monitor, database);
    const conns = await connectionsOf(monitor, database);
    return {
      target,
      seconds: elapsed,
      statementsPerSec: (p1.statements - p0.statements) / elapsed,
      roundTripsPerSec: (p1.sync - p0.sync) / elapsed,
      transactionsPerSec: (p1.transactions - p0.transactions) / elapsed, // seen by the proxy
      commitsPerSec: (c1.commits - c0.commits) / elapsed, // pg_stat_database (published late)
      connections: conns.total,
      connectionsMax: Math.max(conns.total, ...samples),
      connectionsByApp: conns.byApp,
      proxyConnectionsOpen: p1.open,
      topStatements: [...proxy.texts()]
        .map(([text, n]) => ({ text: text.slice(0, 160), perSec: (n - (t0texts.get(text) ?? 0)) / elapsed }))
        .filter((r) => r.perSec > 0)
        .sort((a, b) => b.perSec - a.perSec)
        .slice(0, 5),
    };
  } finally {
    await close().catch(() => {});
    await proxy.close();
    await monitor.end();
    app.close();
  }
}
