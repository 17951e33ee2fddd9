import net from 'node:net';
import { afterAll } from 'vitest';
import { databaseUrl } from './db.js';

/**
 * A loopback TCP proxy in front of the test server, for failures a real network has and a local
 * server does not: a connection that stops answering while its socket stays open (a dead NAT
 * entry, a frozen pooler), and one cut after a statement was sent but before its reply arrived.
 * It also counts the statements clients send ('Q' simple queries and 'E' executes of the
 * extended protocol), so tests can count a World's statements instead of timing them.
 */
export interface TcpProxy {
  /** `databaseUrl` with the proxy's host and port. */
  url: string;
  /** Statements sent through the proxy so far. */
  statements(): number;
  /** Client connections open now. */
  openConnections(): number;
  /** From now on nothing is forwarded either way; sockets stay open. */
  freeze(): void;
  /**
   * The next statement a client sends reaches the server, and then that connection is cut
   * before any reply comes back. Resolves when it has been cut.
   */
  cutAfterNextStatement(): Promise<void>;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

const open: TcpProxy[] = [];
// every proxy a test file started is closed after the file
afterAll(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

/** A proxy in front of `targetUrl` (the test server by default), closed after the test file. */
export async function startTcpProxy(targetUrl: string = databaseUrl): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  let statements = 0;
  let frozen = false;
  let cut: (() => void) | undefined;

  const server = net.createServer((client) => {
    const upstream = net.connect({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.add(client);
    sockets.add(upstream);
    clients.add(client);
    let startup = true;
    let pending: Buffer = Buffer.alloc(0);
    let cutThis = false;
    const destroy = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      if (frozen) return;
      upstream.write(chunk);
      // count whole messages: the startup message has no type byte, every later one does
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        if (startup) {
          if (pending.length < 4) break;
          const length = pending.readInt32BE(0);
          if (pending.length < length) break;
          pending = pending.subarray(length);
          startup = false;
          continue;
        }
        if (pending.length < 5) break;
        const length = pending.readInt32BE(1);
        if (pending.length < length + 1) break;
        const type = String.fromCharCode(pending[0]!);
        pending = pending.subarray(length + 1);
        if (type === 'Q' || type === 'E') {
          statements++;
          if (cut) {
            cutThis = true;
            const done = cut;
            cut = undefined;
            done();
          }
        }
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutThis) {
        destroy(); // the statement ran; its reply never reaches the client
        return;
      }
      if (!frozen) client.write(chunk);
    });
    client.on('close', () => {
      upstream.destroy();
      sockets.delete(client);
      clients.delete(client);
    });
    upstream.on('close', () => {
      client.destroy();
      sockets.delete(upstream);
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  const proxy: TcpProxy = {
    url: url.toString(),
    statements: () => statements,
    openConnections: () => clients.size,
    freeze: () => {
      frozen = true;
    },
    cutAfterNextStatement: () =>
      new Promise<void>((resolve) => {
        cut = resolve;
      }),
    close: async () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  open.push(proxy);
  return proxy;
}
