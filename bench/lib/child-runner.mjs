// Spawns bench/child.mjs for one scenario and one contestant, relays its progress lines and
// returns its result.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, '..', 'child.mjs');

export function runChild(scenario, opts, { onProgress = () => {}, nodeArgs = [], env = {}, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, CHILD, scenario, JSON.stringify(opts)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
      ...(cwd ? { cwd } : {}),
    });
    let result;
    let error;
    let out = '';
    const stderr = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (!line.startsWith('@@bench ')) {
          stderr.push(line);
          continue;
        }
        const msg = JSON.parse(line.slice(8));
        if (msg.type === 'progress') onProgress(msg.text);
        else if (msg.type === 'result') result = msg.result;
        else if (msg.type === 'error') error = msg.message;
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => stderr.push(...c.split('\n').filter(Boolean)));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result !== undefined && code === 0) resolve(result);
      else {
        const tail = stderr.slice(-15).join('\n');
        reject(new Error(`${scenario} ${opts.target ?? ''} failed (exit ${code}): ${error ?? ''}\n${tail}`));
      }
    });
  });
}

/**
 * A long-lived child (scenario.session()): `call(cmd)` sends one command and resolves with its
 * reply. The process stays warm between calls so the parent can interleave contestants.
 */
export function openSession(scenario, opts, { onProgress = () => {}, env = {} } = {}) {
  return new Promise((resolveOpen, rejectOpen) => {
    const child = spawn(process.execPath, [CHILD, scenario, JSON.stringify({ ...opts, session: true })], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const waiting = new Map();
    const stderr = [];
    let nextId = 1;
    let out = '';
    let opened = false;
    let exited = false;
    const api = {
      call: (cmd) =>
        new Promise((resolve, reject) => {
          if (exited) return reject(new Error(`${scenario} ${opts.target ?? ''} session has exited`));
          const id = nextId++;
          waiting.set(id, { resolve, reject });
          child.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
        }),
      close: () =>
        new Promise((resolve) => {
          if (exited) return resolve();
          child.once('exit', () => resolve());
          child.stdin.write('{"cmd":"exit"}\n');
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }),
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (!line.startsWith('@@bench ')) { stderr.push(line); continue; }
        const msg = JSON.parse(line.slice(8));
        if (msg.type === 'progress') onProgress(msg.text);
        else if (msg.type === 'ready') { opened = true; resolveOpen(api); }
        else if (msg.type === 'reply') {
          const w = waiting.get(msg.id);
          waiting.delete(msg.id);
          if (msg.error) w?.reject(new Error(msg.error)); else w?.resolve(msg.result);
        } else if (msg.type === 'error') stderr.push(msg.message);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => stderr.push(...c.split('\n').filter(Boolean)));
    child.on('exit', (code) => {
      exited = true;
      const err = new Error(`${scenario} ${opts.target ?? ''} session exited (${code}):\n${stderr.slice(-15).join('\n')}`);
      for (const w of waiting.values()) w.reject(err);
      if (!opened) rejectOpen(err);
    });
  });
}
