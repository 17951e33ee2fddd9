// Helper process of the streams scenario (not a scenario itself): opens readFromStream on a
// World of its own and reports what it received.
//   mode "tail":  expects `count` chunks whose first 8 bytes are the writer's send time
//                 (float64, epoch ms); reports per-chunk write→read latency.
//   mode "drain": reads to end-of-stream, discarding chunks; reports bytes, time and the
//                 peak RSS growth over the RSS measured just before reading.
// Usage: node stream-reader.mjs '<json {target, url, name, mode, count}>'
import { performance } from 'node:perf_hooks';
import { emit } from '../lib/common.mjs';
import { openTarget } from '../lib/targets.mjs';

const wall = () => performance.timeOrigin + performance.now();
const opts = JSON.parse(process.argv[2]);
const limit = setTimeout(() => {
  emit('error', { message: 'stream reader timed out' });
  process.exit(3);
}, opts.timeoutMs ?? 120_000);
limit.unref();

const { world, close } = await openTarget(opts.target, { url: opts.url, poolSize: 2 });
// connect and warm the driver before the baseline
await world.getStreamInfo(`warm_${process.pid}`, 'wrun_warm').catch(() => {});
global.gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 5);

const opened = wall();
const stream = await world.readFromStream(opts.name, 0);
const reader = stream.getReader();
emit('ready', {});
const latencies = [];
let bytes = 0;
let chunks = 0;
let first = 0;
for (;;) {
  const { done, value } = await reader.read();
  if (done) break;
  const t = wall();
  if (!first) first = t;
  chunks++;
  bytes += value.byteLength;
  if (opts.mode === 'tail') {
    const sent = Buffer.from(value.buffer, value.byteOffset, value.byteLength).readDoubleLE(0);
    latencies.push(t - sent);
    if (chunks >= opts.count) break;
  }
  peak = Math.max(peak, process.memoryUsage().rss);
}
const end = wall();
clearInterval(sampler);
await reader.cancel().catch(() => {});
emit('result', {
  result: { chunks, bytes, latencies, firstToLastMs: end - first, openToEndMs: end - opened, rssGrowthMiB: (peak - baseline) / 2 ** 20, baselineMiB: baseline / 2 ** 20 },
});
await close().catch(() => {});
process.exit(0);
