// A loopback TCP proxy that counts what clients send to PostgreSQL, whatever the driver:
// 'Q' (simple query) and 'E' (execute of the extended protocol) are statements, 'S' (sync)
// and 'Q' end a round trip. Used only in counting passes, never while timing.
import net from 'node:net';

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

export function startCountingProxy(targetUrl, { captureText = false } = {}) {
  const target = new URL(targetUrl);
  /** statement text → executions (when captureText): Parse names a text, Execute runs the last one parsed. */
  const texts = new Map();
  const counts = { transactions: 0, statements: 0, simple: 0, execute: 0, parse: 0, sync: 0, connections: 0, open: 0 };
  const sockets = new Set();

  const server = net.createServer((client) => {
    counts.connections++;
    counts.open++;
    const upstream = net.connect({ host: target.hostname || '127.0.0.1', port: Number(target.port || 5432) });
    sockets.add(client);
    sockets.add(upstream);
    let startup = true;
    let buf = Buffer.alloc(0);
    const named = new Map();
    // transactions: per Sync (or simple Query) the statements it closes, matched in order with
    // the server's ReadyForQuery; one that returns to idle after statements ended a transaction
    const pending = [];
    let sinceSync = 0;
    let txStatus = 'I';
    let sslBytes = 0;
    let sbuf = Buffer.alloc(0);
    let lastText = '?';
    const bump = (t) => texts.set(t, (texts.get(t) ?? 0) + 1);

    client.on('data', (chunk) => {
      upstream.write(chunk);
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        if (startup) {
          if (buf.length < 8) break;
          const len = buf.readInt32BE(0);
          if (buf.length < len) break;
          const code = buf.readInt32BE(4);
          buf = buf.subarray(len);
          if (code === SSL_REQUEST || code === GSS_REQUEST) sslBytes++;
          if (code !== SSL_REQUEST && code !== GSS_REQUEST && code !== CANCEL_REQUEST) startup = false;
          continue;
        }
        if (buf.length < 5) break;
        const len = buf.readInt32BE(1);
        if (buf.length < len + 1) break;
        const type = String.fromCharCode(buf[0]);
        if (type === 'Q') {
          counts.simple++; counts.statements++; counts.sync++;
          pending.push(sinceSync + 1);
          sinceSync = 0;
          if (captureText) bump(buf.toString('utf8', 5, len).replace(/\0$/, ''));
        } else if (type === 'E') {
          counts.execute++; counts.statements++; sinceSync++;
          if (captureText) bump(lastText);
        } else if (type === 'P') {
          counts.parse++;
          if (captureText) {
            const nameEnd = buf.indexOf(0, 5);
            const textEnd = buf.indexOf(0, nameEnd + 1);
            const name = buf.toString('utf8', 5, nameEnd);
            const text = buf.toString('utf8', nameEnd + 1, textEnd).replace(/\s+/g, ' ').trim();
            named.set(name, text);
          }
        } else if (type === 'B' && captureText) {
          const portalEnd = buf.indexOf(0, 5);
          const stmtEnd = buf.indexOf(0, portalEnd + 1);
          lastText = named.get(buf.toString('utf8', portalEnd + 1, stmtEnd)) ?? '?';
        }
        else if (type === 'S') {
          counts.sync++;
          pending.push(sinceSync);
          sinceSync = 0;
        }
        buf = buf.subarray(len + 1);
      }
    });
    upstream.on('data', (chunk) => {
      client.write(chunk);
      sbuf = sbuf.length ? Buffer.concat([sbuf, chunk]) : chunk;
      while (sslBytes > 0 && sbuf.length > 0) {
        sslBytes--;
        sbuf = sbuf.subarray(1); // 'S' / 'N' answer to SSLRequest / GSSENCRequest
      }
      for (;;) {
        if (sbuf.length < 5) break;
        const len = sbuf.readInt32BE(1);
        if (sbuf.length < len + 1) break;
        if (sbuf[0] === 0x5a /* Z */) {
          const status = String.fromCharCode(sbuf[5]);
          const statements = pending.shift() ?? 0;
          if (status === 'I' && (statements > 0 || txStatus !== 'I')) counts.transactions++;
          txStatus = status;
        }
        sbuf = sbuf.subarray(len + 1);
      }
    });
    const close = () => {
      if (sockets.delete(client)) counts.open--;
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });

  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        port,
        counts,
        snapshot: () => ({ ...counts }),
        texts: () => new Map(texts),
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

export function diffCounts(a, b) {
  const out = {};
  for (const k of Object.keys(b)) out[k] = b[k] - (a[k] ?? 0);
  return out;
}
