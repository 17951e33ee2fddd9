/**
 * The test file the `workflow-world-testing` command hands to vitest: the whole suite against
 * the World named by WORKFLOW_WORLD_TESTING_TARGET, loaded from WORKFLOW_WORLD_TESTING_CWD.
 */
import { createConformanceSuite } from '../index.js';

const env = process.env;
const target = env.WORKFLOW_WORLD_TESTING_TARGET;
if (!target) throw new Error('WORKFLOW_WORLD_TESTING_TARGET is not set: run this file through the workflow-world-testing command');
const list = (value: string | undefined) => (value ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const off = new Set(list(env.WORKFLOW_WORLD_TESTING_WITHOUT) ?? []);
const only = list(env.WORKFLOW_WORLD_TESTING_ONLY);

createConformanceSuite({
  name: `conformance: ${target}`,
  world: target,
  cwd: env.WORKFLOW_WORLD_TESTING_CWD ?? process.cwd(),
  ...(only ? { only } : {}),
  capabilities: {
    ...(off.has('queue') ? { queue: false } : {}),
    ...(off.has('streamer') ? { streamer: false } : {}),
    ...(off.has('cross-instance-delivery') ? { crossInstanceDelivery: false } : {}),
    ...(off.has('multiple-instances') ? { multipleInstances: false } : {}),
  },
  e2e: env.WORKFLOW_WORLD_TESTING_E2E === '1' ? { env: JSON.parse(env.WORKFLOW_WORLD_TESTING_E2E_ENV || '{}') as Record<string, string> } : false,
});
