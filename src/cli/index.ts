#!/usr/bin/env node
/**
 * The `p2p-llm` command: share a local model (`host`) or use a shared one (`ask`).
 */
import { Command } from 'commander'
import { registerAsk } from './ask.ts'
import { registerHost } from './host.ts'
import { registerPanel } from './panel.ts'
import { registerProxy } from './proxy.ts'
import { registerRelay } from './relay.ts'
import { version } from './version.ts'
import { registerWeb } from './web.ts'

const program = new Command()
  .name('p2p-llm')
  .description('Share a local LLM with anyone, peer to peer, or use one somebody shared.')
  .version(version)
  .showHelpAfterError()

registerHost(program)
registerAsk(program)
registerRelay(program)
registerProxy(program)
registerWeb(program)
registerPanel(program)

try {
  await program.parseAsync()
} catch (err) {
  // Our errors carry a stable code; print it and the message, not a stack trace.
  const { code, message } = err as { code?: string; message?: string }
  console.error(`p2p-llm: ${code != null ? `${code}: ` : ''}${message ?? String(err)}`)
  process.exitCode = 1
}
