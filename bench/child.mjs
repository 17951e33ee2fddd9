// Runs one scenario against one contestant in a fresh process and reports through stdout
// (see emit() in lib/common.mjs). Usage: node bench/child.mjs <scenario> '<json options>'
//
// With {"session": true} the scenario's session(opts) is opened instead of run(opts), and the
// process then answers commands read from stdin (one JSON object a line) until {"cmd":"exit"}:
// the parent keeps one warm process per contestant and interleaves their repetitions.
import readline from 'node:readline';
import { emit } from './lib/common.mjs';

const [scenario, json = '{}'] = process.argv.slice(2);
const opts = JSON.parse(json);
const hardLimit = setTimeout(() => {
  emit('error', { message: `child ${scenario} exceeded ${opts.timeoutMs ?? 240_000} ms` });
  process.exit(3);
}, opts.timeoutMs ?? 240_000);
hardLimit.unref();

try {
  const mod = await import(`./scenarios/${scenario}.mjs`);
  if (!opts.session) {
    const result = await mod.run(opts);
    emit('result', { result });
    process.exit(0);
  }
  const session = await mod.session(opts);
  emit('ready', {});
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const cmd = JSON.parse(line);
    if (cmd.cmd === 'exit') break;
    try {
      emit('reply', { id: cmd.id, result: await session.handle(cmd) });
    } catch (error) {
      emit('reply', { id: cmd.id, error: String(error?.stack ?? error) });
    }
  }
  await session.close();
  emit('result', { result: null });
  process.exit(0);
} catch (error) {
  emit('error', { message: String(error?.stack ?? error) });
  process.exit(2);
}
