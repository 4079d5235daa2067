import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.spec.ts'],
    // Builds llama-server on a cold cache (minutes) and generates the tiny model, once.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Real libp2p nodes and llama-servers: processes isolate native handles between files.
    pool: 'forks',
  },
})
