import { describe, expect, test } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { rejection } from '../helpers/runs.js';

describe('resolveConfig', () => {
  test('option > WORKFLOW_POSTGRES_* > default, DATABASE_URL as the URL fallback', () => {
    const env = { DATABASE_URL: 'postgres://db/fallback', WORKFLOW_POSTGRES_SCHEMA: 'from_env', WORKFLOW_POSTGRES_POOL_SIZE: '7' };
    const fromEnv = resolveConfig({}, env);
    expect(fromEnv).toMatchObject({ connectionString: 'postgres://db/fallback', schema: 'from_env', poolSize: 7, migrate: 'auto', prepare: true, queueConcurrency: 10 });
    const withUrl = resolveConfig({}, { ...env, WORKFLOW_POSTGRES_URL: 'postgres://db/primary' });
    expect(withUrl.connectionString).toBe('postgres://db/primary');
    const explicit = resolveConfig({ schema: 'opt', poolSize: 3, prepare: false }, env);
    expect(explicit).toMatchObject({ schema: 'opt', poolSize: 3, prepare: false });
    expect(resolveConfig({}, { WORKFLOW_POSTGRES_PREPARE: 'false' }).prepare).toBe(false);
    expect(resolveConfig({}, {}).schema).toBe('workflow');
  });

  test('bad values are a typed error naming the setting and its variable, never the URL', () => {
    let error: unknown;
    try {
      resolveConfig({}, { WORKFLOW_POSTGRES_POOL_SIZE: 'lots', WORKFLOW_POSTGRES_URL: 'mysql://user:secret@host/db' });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'WorldPgConfigError', code: 'CONFIG_INVALID', status: 500 });
    const message = (error as Error).message;
    expect(message).toContain('poolSize (WORKFLOW_POSTGRES_POOL_SIZE)');
    expect(message).toContain('connectionString (WORKFLOW_POSTGRES_URL)');
    expect(message).not.toContain('secret');
    expect(() => resolveConfig({ migrate: 'sometimes' as never }, {})).toThrow(/migrate \(WORKFLOW_POSTGRES_MIGRATE\)/);
    expect(() => resolveConfig({}, { WORKFLOW_POSTGRES_LOG_LEVEL: 'loud' })).toThrow(/logLevel \(WORKFLOW_POSTGRES_LOG_LEVEL\)/);
    expect(() => resolveConfig({}, { WORKFLOW_POSTGRES_LOG_FORMAT: 'xml' })).toThrow(/logFormat \(WORKFLOW_POSTGRES_LOG_FORMAT\)/);
    expect(resolveConfig({}, { WORKFLOW_POSTGRES_LOG_LEVEL: 'debug', WORKFLOW_POSTGRES_LOG_FORMAT: 'json' })).toMatchObject({ logLevel: 'debug', logFormat: 'json' });
  });

});

describe('createWorld without a database', () => {
  test('the factory does no I/O and never throws; the first use names the missing setting', async () => {
    const saved = { a: process.env.WORKFLOW_POSTGRES_URL, b: process.env.DATABASE_URL };
    delete process.env.WORKFLOW_POSTGRES_URL;
    delete process.env.DATABASE_URL;
    try {
      const { createWorld } = await import('../../src/index.js');
      const world = createWorld();
      expect(world.specVersion).toBe(3);
      const error = await rejection(world.runs.list());
      expect(error).toMatchObject({ name: 'WorldPgConfigError', code: 'CONFIG_MISSING' });
      expect(error.message).toContain('WORKFLOW_POSTGRES_URL');
      await world.close();
      await world.close();
    } finally {
      if (saved.a !== undefined) process.env.WORKFLOW_POSTGRES_URL = saved.a;
      if (saved.b !== undefined) process.env.DATABASE_URL = saved.b;
    }
  });

  test('an unreachable database fails the call, not the process', async () => {
    const { createWorld } = await import('../../src/index.js');
    const world = createWorld({ connectionString: 'postgres://postgres@127.0.0.1:1/none' });
    const error = await rejection(world.runs.get('wrun_x'));
    expect(error.message).toMatch(/ECONNREFUSED|connect/i);
    await world.close();
  });
});
