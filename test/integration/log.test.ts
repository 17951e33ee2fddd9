import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { createWorld } from '../../src/index.js';
import { databaseUrl, freshSchema, testWorld } from '../helpers/db.js';
import { rejection } from '../helpers/runs.js';
import { waitFor, WORKFLOW } from './queue/helpers.js';

/**
 * Log lines carry ids, never payloads or connection strings (src/log.ts). Everything the
 * package prints during a run that logs at every level is captured and searched for the
 * password of its connection string and for markers placed in every payload.
 */
const PASSWORD = 'pw-that-must-not-leak';
const MARKER = 'PAYLOAD-THAT-MUST-NOT-LEAK';
const lines: string[] = [];

beforeEach(() => {
  vi.stubEnv('WORKFLOW_POSTGRES_LOG_LEVEL', 'debug');
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  }
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('logging', () => {
  test('no line carries a password or a payload, at debug level, through failures and retries', async () => {
    const url = new URL(databaseUrl);
    url.password = PASSWORD; // the test server ignores or accepts it: trust or this very password
    if (databaseUrl.includes('postgres:postgres@')) url.password = 'postgres'; // embedded server
    const world = testWorld({ connectionString: url.toString(), queueRetryBaseMs: 10, queueMaxAttempts: 2 });
    let attempts = 0;
    world.createQueueHandler(WORKFLOW, async () => {
      attempts++;
      throw new Error('the handler failed'); // an error message is logged; the payload is not
    });
    await world.start();
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_log', secret: MARKER } as never);
    const runId = `wrun_${'0'.repeat(10)}${'1'.repeat(16)}`;
    await rejection(world.events.create(runId, { eventType: 'run_created', eventData: { deploymentId: 'd', workflowName: 'w', input: MARKER } }));
    await world.writeToStream(`strm_wrun_log_user`, `wrun_log`, MARKER);
    await waitFor(() => attempts === 2, 'both attempts (the second dead-letters the message)');

    // an unreachable server with a password in its URL: connection errors are logged and retried
    const unreachable = createWorld({ connectionString: `postgres://u:${PASSWORD}@127.0.0.1:1/db`, schema: freshSchema() });
    await rejection(unreachable.runs.list());
    await unreachable.close();
    await world.close();

    expect(lines.length).toBeGreaterThan(3);
    expect(lines.some((l) => l.includes('dead-lettered'))).toBe(true);
    expect(lines.filter((l) => l.includes(PASSWORD) || l.includes(MARKER))).toEqual([]);
  });

  test("a pino-shaped logger passed as `logger` gets every line as (object, message); JSON lines by WORKFLOW_POSTGRES_LOG_FORMAT", async () => {
    const received: { level: string; context: Record<string, unknown>; message: string }[] = [];
    const logger = Object.fromEntries(
      (['debug', 'info', 'warn', 'error'] as const).map((level) => [
        level,
        (context: Record<string, unknown>, message: string) => void received.push({ level, context, message }),
      ]),
    ) as unknown as import('../../src/index.js').Logger;
    vi.unstubAllEnvs(); // no level set: a custom logger filters by its own
    const world = testWorld({ logger, queueRetryBaseMs: 10 });
    let attempts = 0;
    world.createQueueHandler(WORKFLOW, async () => {
      if (++attempts === 1) throw new Error('once');
    });
    await world.start();
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_pino' });
    await waitFor(() => attempts === 2, 'the retry');
    const retry = received.find((r) => r.message === 'queue delivery failed; retrying');
    expect(retry).toMatchObject({ level: 'warn', context: { runId: 'wrun_pino', attempt: 1 } });
    expect(typeof retry!.context.messageId).toBe('string');
    await world.close();
    createWorld({ logger: undefined }); // keeps the logger: only a given option changes it

    // back to the console logger, as JSON lines
    const { configureLogging } = await import('../../src/log.js');
    configureLogging({ logger: null });
    vi.stubEnv('WORKFLOW_POSTGRES_LOG_FORMAT', 'json');
    lines.length = 0;
    const { log } = await import('../../src/log.js');
    log.warn('a line', { runId: 'wrun_json', stepId: undefined });
    const line = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'warn', msg: 'a line', runId: 'wrun_json', name: 'workflow-world-postgres' });
    expect(line).not.toHaveProperty('stepId');
    expect(typeof line.time).toBe('string');
  });
});
