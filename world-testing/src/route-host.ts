import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

type Route = (req: Request) => Promise<Response>;

/**
 * Serves the functions returned by `createQueueHandler` at `/.well-known/workflow/v1/flow` and
 * `/step`, as a framework integration does, and answers `?__health` probes as the runtime's
 * route wrapper does (docs/world-contract.md §2.7). While it runs, `PORT` names its port:
 * Worlds that deliver over HTTP to the app (the reference Worlds do) find it there or by
 * probing the process's listening ports. Worlds that call handlers in-process never touch it.
 */
export class RouteHost {
  private readonly routes = new Map<'flow' | 'step', Route>();
  private server: Server | undefined;
  private previousPort: string | undefined;
  port = 0;

  mount(kind: 'flow' | 'step', route: Route): void {
    this.routes.set(kind, route);
  }

  /** Between tests: deliveries left over from earlier tests are acknowledged and dropped. */
  unmountAll(): void {
    this.routes.clear();
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(error) }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.previousPort = process.env.PORT;
    process.env.PORT = String(this.port);
  }

  async close(): Promise<void> {
    if (process.env.PORT === String(this.port)) {
      if (this.previousPort === undefined) delete process.env.PORT;
      else process.env.PORT = this.previousPort;
    }
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    const match = /\/\.well-known\/workflow\/v1\/(flow|step)$/.exec(url.pathname);
    if (url.searchParams.has('__health')) {
      if (req.method === 'OPTIONS') {
        res.writeHead(204).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ healthy: true, endpoint: match?.[1] ?? 'flow' }));
      return;
    }
    const route = match ? this.routes.get(match[1] as 'flow' | 'step') : undefined;
    if (!route) {
      const status = match ? 200 : 404; // a stray delivery from an earlier test: acknowledge it
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(match ? { ok: true } : { error: `no route for ${url.pathname}` }));
      return;
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const requestHeaders = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) for (const item of v) requestHeaders.append(k, item);
      else if (v !== undefined) requestHeaders.set(k, v);
    }
    const request = new Request(url, {
      method: req.method ?? 'POST',
      headers: requestHeaders,
      ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: 'half' } : {}),
    } as RequestInit);
    const response = await route(request);
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => (headers[key] = value));
    res.writeHead(response.status, headers);
    res.end(Buffer.from(await response.arrayBuffer()));
  }
}
