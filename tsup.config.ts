import { defineConfig } from 'tsup'

// JavaScript only: declarations come from `tsc -p tsconfig.build.json` (TypeScript 7 has no
// compiler API for tsup's dts bundler). One entry per public subpath of package.json `exports`.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'codec/index': 'src/codec/index.ts',
    'guest/index': 'src/guest/index.ts',
    'host/index': 'src/host/index.ts',
    'backends/index': 'src/backends/index.ts',
    // Its own subpath (p2p-llm/node-llama-cpp): the main entry never loads node-llama-cpp.
    'backends/node-llama-cpp': 'src/backends/node-llama-cpp.ts',
    'cli/index': 'src/cli/index.ts',
  },
  format: ['esm'],
  platform: 'node',
  target: 'node22',
  splitting: true,
  sourcemap: true,
  clean: true,
  dts: false,
})
