import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { createHealthHandler } from '../../src/index.js';
import { adminSql, databaseUrl, freshSchema, testWorld } from '../helpers/db.js';
import { rejection } from '../helpers/runs.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { queueWorld, STEP, waitFor, WORKFLOW } from './queue/helpers.js';

const run = promisify(execFile);

describe('health', () => {
  test('a started, idle World is ok: database, migrations, LISTEN, worker and an empty queue', async () => {
    const world = queueWorld();
    world.createQueueHandler(WORKFLOW, async () => {});
    await world.start();
    await waitFor(async () => (await world.health()).listener.status === 'up', 'the LISTEN connection');
    const report = await world.health();
    expect(report).toMatchObject({
      status: 'ok',
      reasons: [],
      database: { status: 'ok' },
      migrations: { status: 'ok', version: 3, latest: 3, pending: [] },
      listener: { status: 'up' },
      worker: { status: 'running', inFlight: 0, concurrency: 10 },
      queue: { status: 'ok', ready: 0, delayed: 0, leased: 0, dead: 0, oldestReadyAgeMs: null },
    });
    expect(report.database.latencyMs).toBeGreaterThanOrEqual(0);
    expect(typeof report.worker.lastClaimAt).toBe('string');
    await world.close();
    expect((await world.health()).worker.status).toBe('stopped');
  });

  test('queue figures by state, capped counts, and degraded for dead letters and a message waiting too long', async () => {
    const world = queueWorld(); // never started: nothing consumes
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_ready' });
    await world.queue(`${STEP}s`, { workflowName: 'w', workflowRunId: 'wrun_x', workflowStartedAt: 0, stepId: 'a' } as never, { delaySeconds: 3_600 });
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_dead' });
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_leased' });
    const m = `"${world.schema}".messages`;
    await adminSql().unsafe(`update ${m} set state = 'dead', finished_at = now() where run_id = 'wrun_dead'`);
    await adminSql().unsafe(`update ${m} set state = 'leased', lease_owner = 'elsewhere', run_at = now() + interval '1 minute' where run_id = 'wrun_leased'`);
    await adminSql().unsafe(`update ${m} set run_at = now() - interval '2 minutes' where run_id = 'wrun_ready'`);
    const report = await world.health();
    expect(report.queue).toMatchObject({ status: 'degraded', ready: 1, delayed: 1, leased: 1, dead: 1 });
    expect(report.queue.oldestReadyAgeMs).toBeGreaterThanOrEqual(120_000);
    expect(report.status).toBe('degraded');
    expect(report.reasons.join('\n')).toMatch(/waited \d+ s to be claimed/);
    expect(report.reasons.join('\n')).toMatch(/1 dead-lettered message/);
    expect(report.worker.status).toBe('not_started');
    expect((await world.health({ maxReadyAgeMs: 3_600_000 })).reasons.join('\n')).not.toMatch(/waited/);
  });

  test('never throws: an unreachable database, an unmigrated schema and a server that stops answering report down', async () => {
    const unreachable = testWorld({ connectionString: 'postgres://u:secret@127.0.0.1:1/db' });
    const down = await unreachable.health({ timeoutMs: 5_000 });
    expect(down).toMatchObject({ status: 'down', database: { status: 'down', latencyMs: null } });
    expect(down.reasons[0]).toMatch(/^database unreachable/);
    expect(JSON.stringify(down)).not.toContain('secret');

    const schema = freshSchema('unmigrated');
    const unmigrated = testWorld({ schema, migrate: 'off' });
    const report = await unmigrated.health();
    expect(report).toMatchObject({ status: 'down', database: { status: 'ok' }, migrations: { status: 'down', version: 0 } });
    expect(report.reasons.join('\n')).toContain(`schema "${schema}" does not exist or is not migrated`);

    const proxy = await startTcpProxy();
    const frozen = testWorld({ connectionString: proxy.url });
    expect((await frozen.health()).status).toBe('ok'); // migrated through the proxy
    proxy.freeze();
    const stuck = await frozen.health({ timeoutMs: 300 });
    expect(stuck).toMatchObject({ status: 'down', database: { status: 'down' } });
    expect(stuck.database.error).toContain('did not answer within 300 ms');
  });

  test('costs a few statements, and repeated probes within two seconds one round trip', async () => {
    const proxy = await startTcpProxy();
    const world = testWorld({ connectionString: proxy.url });
    await world.runs.list(); // migrated
    const before = proxy.statements();
    await world.health();
    const first = proxy.statements() - before;
    await world.health();
    const second = proxy.statements() - before - first;
    expect(first).toBeLessThanOrEqual(7);
    expect(second).toBe(1);
  });

  test('createHealthHandler: liveness answers without the database; readiness answers the report with 200 or 503', async () => {
    const healthy = testWorld();
    await healthy.runs.list();
    const ready = await createHealthHandler(healthy)(new Request('http://app/health'));
    expect(ready.status).toBe(200);
    expect(ready.headers.get('content-type')).toBe('application/json');
    expect(await ready.json()).toMatchObject({ status: 'ok', database: { status: 'ok' } });

    const broken = testWorld({ connectionString: 'postgres://u@127.0.0.1:1/db' });
    const handler = createHealthHandler(broken, { timeoutMs: 5_000 });
    expect((await handler(new Request('http://app/health'))).status).toBe(503);
    const live = await handler(new Request('http://app/health?probe=liveness'));
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'ok', probe: 'liveness' });
    expect((await createHealthHandler(broken, { probe: 'liveness' })(new Request('http://app/livez'))).status).toBe(200);
  });

  // dist/ is built by `npm test` (pretest) before vitest runs
  test('the CLI prints the report, as a table or JSON, and exits 0 when healthy, 1 when down, 2 on bad usage', async () => {
    const schema = freshSchema('clihealth');
    const world = testWorld({ schema });
    await world.runs.list(); // migrated
    const cli = (...args: string[]) => run(process.execPath, ['dist/cli.cjs', 'health', ...args]);
    const table = await cli('--url', databaseUrl, '--schema', schema);
    expect(table.stdout).toMatch(/^overall: ok/);
    expect(table.stdout).toMatch(/^database\s+ok\s+round trip/m);
    expect(table.stdout).toMatch(/^migrations\s+ok\s+version 3 of 3/m);
    const json = await cli('--json', '--url', databaseUrl, '--schema', schema);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'ok', worker: { status: 'not_started' } });
    const unmigrated = freshSchema('clihealth');
    const down = await rejection(cli('--url', databaseUrl, '--schema', unmigrated));
    expect(down).toMatchObject({ code: 1 });
    expect(String(down.stdout)).toMatch(/^overall: down/);
    // the command never creates the schema it was asked about
    const [row] = await adminSql()`select count(*)::int as n from information_schema.schemata where schema_name = ${unmigrated}`;
    expect(row?.n).toBe(0);
    expect(await rejection(cli('--nope'))).toMatchObject({ code: 2 });
  });
});
