import { defineConfig } from 'tsup';

// Two entry points (the World and the CLI), each as ESM and CommonJS: the workflow runtime
// loads a World with require(), while apps may import it. @workflow/* ship ESM only, so they
// are bundled in, which keeps require() free of Node's experimental require(esm) path.
export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli/index.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' } },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  shims: true,
  noExternal: [/^@workflow\//],
});
