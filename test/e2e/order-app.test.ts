import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { stopEmbeddedPostgres } from '../../scripts/lib/embedded-postgres.mjs';
import {
  approveOrder,
  driveOrder,
  e2eWorld,
  followProgress,
  placeOrder,
  settledOrder,
  startApp,
  startLauncher,
} from '../helpers/app.js';
import { quoteIdent } from '../../src/db/ident.js';
import { adminSql, databaseUrl, freshSchema } from '../helpers/db.js';

// The example app (examples/order-app) built with `wf build` and run as a real server on this
// package's World (E2E_WORLD=local runs the same tests on the reference filesystem World).
const STAGES = ['stock-reserved', 'payment-retrying', 'payment-charged', 'cooling-off', 'awaiting-approval', 'approved', 'confirmed'];
const E2E_TIMEOUT = 180_000;

describe(`order app on the ${e2eWorld} World`, () => {
  test(
    'an order runs its steps, a retried charge, a sleep and an HTTP approval to completion, and its progress replays',
    async ({ onTestFailed }) => {
      const app = await startApp({ databaseUrl, schema: freshSchema('e2e') });
      onTestFailed(() => console.error(app.logs()));

      const { orderId, events, final } = await driveOrder(app.baseUrl, { approvedBy: 'ada' });
      expect(final).toMatchObject({
        orderId,
        status: 'completed',
        result: { orderId, status: 'confirmed', amount: 25, chargeAttempts: 2, approvedBy: 'ada' },
      });
      expect(events.map((e) => e.stage)).toEqual(STAGES);

      // Replayed after the fact: whole, and from an index.
      expect(await followProgress(app.baseUrl, orderId).ended).toEqual(events);
      expect(await followProgress(app.baseUrl, orderId, 4).ended).toEqual(events.slice(4));

      const again = await fetch(`${app.baseUrl}/orders/${orderId}/approve`, { method: 'POST', body: '{}' });
      expect(again.status).toBe(409);
      await again.body?.cancel();

      expect(app.logs()).toContain(`order ${orderId}: confirmation sent`);
      expect(await app.stop()).toBe(0);
      expect(app.logs()).toContain('[order-app] world stopped');
    },
    E2E_TIMEOUT,
  );

  test(
    "a named stream (the audit trail) is read live while the order runs and replayed from an index",
    async ({ onTestFailed }) => {
      const app = await startApp({ databaseUrl, schema: freshSchema('e2e') });
      onTestFailed(() => console.error(app.logs()));
      const orderId = await placeOrder(app.baseUrl, { coolingOff: '1s' });
      const auditLive = followProgress(app.baseUrl, orderId, 0, 'audit');
      const progress = followProgress(app.baseUrl, orderId);
      await progress.until('awaiting-approval');
      // live: the first audit line arrived while the run was still waiting for its approval
      await expect.poll(() => auditLive.events.length).toBe(1);
      await approveOrder(app.baseUrl, orderId);
      const audit = (await auditLive.ended) as unknown as string[];
      expect(audit).toHaveLength(2);
      expect(audit[0]).toMatch(/^reserved 1 unit\(s\) as res_/);
      expect(audit[1]).toMatch(/^confirmation conf_\S+ sent to /);
      await progress.ended;
      expect(await followProgress(app.baseUrl, orderId, 1, 'audit').ended).toEqual(audit.slice(1));
      expect(await followProgress(app.baseUrl, orderId, -1, 'audit').ended).toEqual(audit.slice(1));
      expect(await app.stop()).toBe(0);
    },
    E2E_TIMEOUT,
  );

  test.skipIf(e2eWorld === 'local')(
    "a sleeping order whose queue message is deleted is re-driven by reconciliation and completes",
    async ({ onTestFailed }) => {
      const schema = freshSchema('e2e');
      const env = { WORKFLOW_POSTGRES_QUEUE_RECONCILE_INTERVAL_MS: '1000' };
      const app = await startApp({ databaseUrl, schema, env });
      onTestFailed(() => console.error(app.logs()));
      const orderId = await placeOrder(app.baseUrl, { coolingOff: '2s' });
      const progress = followProgress(app.baseUrl, orderId);
      await progress.until('cooling-off');
      // Lose every message of the run while it sleeps: only recovery can wake it now.
      const messages = `${quoteIdent(schema)}.messages`;
      await expect
        .poll(async () => {
          await adminSql().unsafe(`delete from ${messages} where run_id = $1 and state in ('pending', 'leased')`, [orderId]);
          const [row] = await adminSql().unsafe(`select count(*)::int as n from ${messages} where run_id = $1 and state in ('pending', 'leased')`, [orderId]);
          return row?.n;
        })
        .toBe(0);
      await progress.until('awaiting-approval');
      await approveOrder(app.baseUrl, orderId);
      expect((await progress.ended).map((e) => e.stage)).toEqual(STAGES);
      expect(await settledOrder(app.baseUrl, orderId)).toMatchObject({ status: 'completed' });
      expect(app.logs()).toMatch(new RegExp(`reconciliation re-enqueued a run that had no live message.*${orderId}`));
      expect(await app.stop()).toBe(0);
    },
    E2E_TIMEOUT,
  );

  test.skipIf(e2eWorld === 'local')(
    'an order whose server is killed (SIGKILL) inside a step completes after a restart: the step is taken over and runs again',
    async ({ onTestFailed }) => {
      // A short lease keeps the takeover quick (heartbeats keep live deliveries leased).
      const schema = freshSchema('e2e');
      const env = { WORKFLOW_POSTGRES_QUEUE_LEASE_MS: '3000' };
      const app = await startApp({ databaseUrl, schema, env });
      onTestFailed(() => console.error(app.logs()));
      const s = quoteIdent(schema);

      const orderId = await placeOrder(app.baseUrl, { coolingOff: '1s' });
      const beforeCrash = followProgress(app.baseUrl, orderId);
      await beforeCrash.until('awaiting-approval');
      beforeCrash.cancel();
      // The confirmation step ends by closing the progress stream, which waits for its writes.
      // With the stream's row locked by the test, they wait: the step has begun and cannot
      // finish, and the kill lands inside its delivery.
      const held = await adminSql().reserve();
      await held`begin`;
      await held.unsafe(`select 1 from ${s}.streams where run_id = $1 and stream_name not like '%audit%' for update`, [orderId]);
      let running: { step_id: string; attempt: number } | undefined;
      let blocked: number[] = [];
      try {
        await approveOrder(app.baseUrl, orderId);
        await expect
          .poll(async () => {
            const steps = await adminSql().unsafe<{ step_id: string; attempt: number }[]>(
              `select step_id, attempt from ${s}.steps
                where run_id = $1 and status = 'running' and step_name like '%sendConfirmation'`,
              [orderId],
            );
            running = steps[0];
            // the app's writes waiting on the lock (their statements name the schema and the function)
            const waiting = await adminSql()<{ pid: number }[]>`select pid from pg_stat_activity
              where wait_event_type = 'Lock' and query like ${`%${schema}%append_stream_chunks%`}`;
            blocked = waiting.map((r) => r.pid);
            return running !== undefined && blocked.length > 0;
          }, { timeout: 60_000 })
          .toBe(true);
        const [leased] = await adminSql().unsafe<{ n: number }[]>(
          `select count(*)::int as n from ${s}.messages where run_id = $1 and kind = 'step' and state = 'leased'`,
          [orderId],
        );
        expect(leased?.n).toBe(1);
        await app.kill();
        // the dead process's waiting statements must not commit once the lock goes
        for (const pid of blocked) await adminSql()`select pg_terminate_backend(${pid})`;
      } finally {
        await held`rollback`;
        held.release();
      }
      await app.restart();

      const afterRestart = followProgress(app.baseUrl, orderId);
      expect((await afterRestart.ended).map((e) => e.stage)).toEqual(STAGES);
      expect(await settledOrder(app.baseUrl, orderId)).toMatchObject({ status: 'completed' });
      // the step cut short by the kill was delivered again, after its lease expired, and completed
      const [after] = await adminSql().unsafe<{ status: string; attempt: number }[]>(
        `select status, attempt from ${s}.steps where run_id = $1 and step_id = $2`,
        [orderId, running!.step_id],
      );
      expect(after).toEqual({ status: 'completed', attempt: running!.attempt + 1 });
      expect(await app.stop()).toBe(0);
    },
    E2E_TIMEOUT,
  );

  test(
    '`npm start` serves the app and shuts down cleanly on SIGTERM through world.stop()',
    async ({ onTestFailed }) => {
      const launcher = await startLauncher({ databaseUrl, schema: freshSchema('e2e') });
      onTestFailed(() => console.error(launcher.logs()));

      const { final } = await driveOrder(launcher.baseUrl);
      expect(final).toMatchObject({ status: 'completed', result: { status: 'confirmed' } });

      expect(await launcher.stop('SIGTERM')).toBe(0);
      expect(launcher.logs()).toContain('[order-app] world stopped');
    },
    E2E_TIMEOUT,
  );

  describe.skipIf(e2eWorld === 'local')('without a database URL', () => {
    const pgDir = mkdtempSync(join(tmpdir(), 'order-app-pg-'));
    afterAll(async () => {
      // Normally stopped by the launcher already; this covers a test that failed half-way.
      await stopEmbeddedPostgres({ baseDir: pgDir }).catch(() => {});
      rmSync(pgDir, { recursive: true, force: true });
    });

    test(
      '`npm start` runs on an embedded PostgreSQL whose data survives a restart',
      async ({ onTestFailed }) => {
        const env = { WORKFLOW_POSTGRES_URL: '', EMBEDDED_POSTGRES_DIR: pgDir, EMBEDDED_POSTGRES_PORT: '0' };
        const launcher = await startLauncher({ databaseUrl: '', schema: 'workflow', env });
        onTestFailed(() => console.error(launcher.logs()));

        const { orderId, final } = await driveOrder(launcher.baseUrl);
        expect(final.status).toBe('completed');
        expect(await launcher.stop('SIGINT')).toBe(0);
        expect(launcher.logs()).toContain('embedded PostgreSQL stopped');

        await launcher.restart();
        expect(await settledOrder(launcher.baseUrl, orderId)).toMatchObject({ status: 'completed', result: { orderId } });
        expect(await launcher.stop('SIGTERM')).toBe(0);
      },
      E2E_TIMEOUT,
    );
  });
});
