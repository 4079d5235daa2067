import { createRequire } from 'node:module'

// Read at run time so the CLI and package.json never disagree.
export const version: string = (
  createRequire(import.meta.url)('../../package.json') as { version: string }
).version
