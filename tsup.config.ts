import { defineConfig } from 'tsup'

// JavaScript only: declarations come from `tsc -p tsconfig.build.json` (TypeScript 7 has no
// compiler API for tsup's dts bundler). One entry per public subpath of package.json `exports`.
// Dependencies stay external: the app's bundler resolves them (with `browser` conditions).
export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      'codec/index': 'src/codec/index.ts',
      'guest/index': 'src/guest/index.ts',
      'host/index': 'src/host/index.ts',
      'backends/index': 'src/backends/index.ts',
      'backends/node-llama-cpp': 'src/backends/node-llama-cpp.ts',
      'relay/index': 'src/relay/index.ts',
      'cli/index': 'src/cli/index.ts',
    },
    format: ['esm'],
    platform: 'node',
    target: 'node22',
    splitting: true,
    sourcemap: true,
    clean: true,
    dts: false,
  },
  {
    // The browser build: guest and codec only, no Node built-ins (see src/browser.ts).
    entry: { browser: 'src/browser.ts' },
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    dts: false,
  },
])
