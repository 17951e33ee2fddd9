// Scenario 3 — streams. The writer is this process; every reader is a separate process
// (stream-reader.mjs) with a World of its own, so chunks travel through PostgreSQL.
//   live:  one chunk every 20 ms, live reader: write→read latency (send time → reader's read())
//   burst: writeToStreamMulti batches back to back with a live reader: chunks/s and latency
//   big:   a 20 MiB stream written in 64 KiB chunks (MiB/s), then read by a fresh process:
//          read MiB/s and its peak RSS growth
import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { monotonicFactory } from 'ulid';
import { DATABASES, dbUrl, progress, sleep, summarize } from '../lib/common.mjs';
import { openTarget } from '../lib/targets.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ulid = monotonicFactory();
const wall = () => performance.timeOrigin + performance.now();
const MiB = 2 ** 20;

/** Starts a reader process; resolves `ready` once it has opened the stream, `result` at the end. */
function startReader(opts) {
  const child = spawn(process.execPath, ['--expose-gc', path.join(here, 'stream-reader.mjs'), JSON.stringify(opts)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let onReady;
  const ready = new Promise((r) => (onReady = r));
  const result = new Promise((resolve, reject) => {
    let out = '';
    let res;
    const err = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c) => {
      out += c;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (!line.startsWith('@@bench ')) continue;
        const msg = JSON.parse(line.slice(8));
        if (msg.type === 'ready') onReady();
        else if (msg.type === 'result') res = msg.result;
        else if (msg.type === 'error') err.push(msg.message);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => err.push(c));
    child.on('exit', (code) => (res ? resolve(res) : reject(new Error(`stream reader exited ${code}: ${err.join('').slice(-800)}`))));
  });
  result.catch(() => onReady());
  return { ready, result };
}

const stamped = (size) => {
  const b = Buffer.alloc(size, 0x61);
  b.writeDoubleLE(wall(), 0);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};

const FULL = { liveChunks: 150, liveGapMs: 20, burstBatches: 40, burstBatchSize: 50, bigMiB: 20, bigChunkKiB: 64 };
const QUICK = { liveChunks: 15, liveGapMs: 20, burstBatches: 4, burstBatchSize: 10, bigMiB: 2, bigChunkKiB: 64 };

export async function run({ target, quick = false, ...overrides }) {
  const { liveChunks, liveGapMs, burstBatches, burstBatchSize, bigMiB, bigChunkKiB } = { ...(quick ? QUICK : FULL), ...overrides };
  const url = dbUrl(DATABASES[target]);
  const { world, close } = await openTarget(target, { url, poolSize: 4 });
  const runId = `wrun_${ulid()}`;
  const out = { target };
  try {
    await world.writeToStream(`strm_${ulid()}_warm`, runId, new Uint8Array([1])); // connect, prepare

    // live
    progress(`streams ${target}: live tail, ${liveChunks} chunks`);
    let name = `strm_${ulid()}_user`;
    let reader = startReader({ target, url, name, mode: 'tail', count: liveChunks });
    await reader.ready;
    await sleep(300); // let the reader's subscription settle
    for (let i = 0; i < liveChunks; i++) {
      await world.writeToStream(name, runId, stamped(64));
      await sleep(liveGapMs);
    }
    let r = await reader.result;
    await world.closeStream(name, runId);
    out.live = { ...pick(summarize(r.latencies)), chunks: r.chunks };

    // burst
    progress(`streams ${target}: burst, ${burstBatches} × ${burstBatchSize} chunks`);
    name = `strm_${ulid()}_user`;
    reader = startReader({ target, url, name, mode: 'tail', count: burstBatches * burstBatchSize });
    await reader.ready;
    await sleep(300);
    const t0 = wall();
    for (let b = 0; b < burstBatches; b++) {
      await world.writeToStreamMulti(name, runId, Array.from({ length: burstBatchSize }, () => stamped(64)));
    }
    const writeMs = wall() - t0;
    r = await reader.result;
    await world.closeStream(name, runId);
    out.burst = { chunksPerSec: (burstBatches * burstBatchSize * 1000) / writeMs, ...pick(summarize(r.latencies)), chunks: r.chunks, batchSize: burstBatchSize };

    // big
    progress(`streams ${target}: writing ${bigMiB} MiB`);
    name = `strm_${ulid()}_user`;
    const chunk = new Uint8Array(bigChunkKiB * 1024).fill(0x62);
    const n = Math.round((bigMiB * 1024) / bigChunkKiB);
    const w0 = wall();
    for (let i = 0; i < n; i++) await world.writeToStream(name, runId, chunk);
    await world.closeStream(name, runId);
    const bigWriteMs = wall() - w0;
    progress(`streams ${target}: reading ${bigMiB} MiB in a fresh process`);
    reader = startReader({ target, url, name, mode: 'drain' });
    r = await reader.result;
    out.big = {
      mib: bigMiB,
      chunkKiB: bigChunkKiB,
      writeMiBps: bigMiB / (bigWriteMs / 1000),
      readMiBps: r.bytes / MiB / (r.openToEndMs / 1000),
      bytesRead: r.bytes,
      readerRssGrowthMiB: r.rssGrowthMiB,
      readerBaselineMiB: r.baselineMiB,
    };
  } finally {
    await close();
  }
  return out;
}

const pick = (s) => ({ p50: s.p50, p99: s.p99, mean: s.mean, max: s.max });
