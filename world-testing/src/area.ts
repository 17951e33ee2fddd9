import type { Capabilities, Register } from './harness.js';

/** What each group of tests receives: registration by severity, and the World's capabilities. */
export interface Area {
  must: Register;
  should: Register;
  capabilities: Capabilities;
  /** The module specifier when the World was given as one (lifecycle tests load it in a child process). */
  module?: { specifier: string; cwd: string };
}
