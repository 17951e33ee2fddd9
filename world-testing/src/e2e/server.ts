import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { delay } from '../util.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface ServerOptions {
  workflowsDir: string;
  /** Working directory: where the runtime require()s WORKFLOW_TARGET_WORLD from. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  port: number;
  startupTimeoutMs: number;
}

/** The layer 2 server as a child process that can be killed and started again on the same port. */
export class WorkflowServer {
  private child: ChildProcess | undefined;
  private output = '';
  readonly baseUrl: string;

  constructor(private readonly options: ServerOptions) {
    this.baseUrl = `http://127.0.0.1:${options.port}`;
  }

  logs(): string {
    return this.output;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [join(this.options.workflowsDir, 'server.mjs')], {
      cwd: this.options.cwd,
      env: { ...this.options.env, PORT: String(this.options.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (d) => (this.output += d));
    child.stderr?.on('data', (d) => (this.output += d));
    const deadline = Date.now() + this.options.startupTimeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the workflow server exited (${child.signalCode ?? `code ${child.exitCode}`}) before it was ready:\n${this.tail()}`);
      }
      const ok = await fetch(`${this.baseUrl}/healthz`).then((r) => r.ok, () => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`the workflow server was not ready within ${this.options.startupTimeoutMs} ms:\n${this.tail()}`);
      await delay(100);
    }
  }

  /** SIGKILL (a crash: no shutdown code runs) or SIGTERM; resolves once the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    this.output += `\n[workflow-world-testing] --- server stopped (${signal}) ---\n`;
  }

  tail(chars = 4000): string {
    return this.output.slice(-chars);
  }
}
