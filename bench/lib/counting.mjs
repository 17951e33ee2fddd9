// Statements (from the loopback proxy) and commits (from pg_stat_database) per unit of work.
//
// PostgreSQL backends publish their counters only when idle for a while (up to 10 s) or when
// they exit, so each measurement opens a fresh client through the proxy, does the work, closes
// the client and waits until its backends are gone. Setup costs (connect, schema check, prepare)
// cancel out: the work is done twice, with n1 and n2 units, and the per-unit figure is the
// difference divided by n2 - n1.
import { adminSql, BASE_URL, dbCounters, sleep, viaPort } from './common.mjs';
import { diffCounts, startCountingProxy } from './pgproxy.mjs';

async function waitNoBackends(monitor, database, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [{ n }] = await monitor`
      select count(*)::int as n from pg_stat_activity
       where datname = ${database} and backend_type = 'client backend' and pid <> pg_backend_pid()`;
    if (n === 0 || Date.now() > deadline) return n;
    await sleep(50);
  }
}

/**
 * @param {object} p
 * @param {string} p.url       the contestant's database URL
 * @param {string} p.database  its database name (for pg_stat_database)
 * @param {(url: string) => Promise<{ close(): Promise<void> }>} p.open  opens a client on `url`
 * @param {(client: any, n: number) => Promise<void>} p.work  does n units of work
 */
export async function countPerUnit({ url, database, open, work, n1 = 3, n2 = 23 }) {
  const monitor = adminSql(BASE_URL);
  const proxy = await startCountingProxy(url);
  try {
    const measure = async (n) => {
      await waitNoBackends(monitor, database);
      const c0 = await dbCounters(monitor, database);
      const p0 = proxy.snapshot();
      const client = await open(viaPort(url, proxy.port));
      try {
        await work(client, n);
      } finally {
        await client.close();
      }
      const left = await waitNoBackends(monitor, database);
      await sleep(100);
      const c1 = await dbCounters(monitor, database);
      const p = diffCounts(p0, proxy.snapshot());
      return {
        statements: p.statements,
        transactions: p.transactions,
        roundTrips: p.sync,
        connections: p.connections,
        commits: c1.commits - c0.commits,
        rollbacks: c1.rollbacks - c0.rollbacks,
        rowsWritten: c1.inserted - c0.inserted + c1.updated - c0.updated + c1.deleted - c0.deleted,
        backendsLeft: left,
      };
    };
    await measure(1); // process-wide one-time work (schema checks, type fetches) lands here
    const a = await measure(n1);
    const b = await measure(n2);
    const per = {};
    for (const k of ['statements', 'transactions', 'roundTrips', 'commits', 'rollbacks', 'rowsWritten']) per[k] = (b[k] - a[k]) / (n2 - n1);
    per.units = n2 - n1;
    per.fixed = { statements: a.statements - per.statements * n1, commits: a.commits - per.commits * n1 };
    return per;
  } finally {
    await proxy.close();
    await monitor.end();
  }
}
