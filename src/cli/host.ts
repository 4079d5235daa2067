/** `p2p-llm host`: share a llama.cpp server with guests. */
import type { Command } from 'commander'
import { llamaCpp } from '../backends/index.ts'
import { createModelHost } from '../host/index.ts'
import { createHostView } from './host-view.ts'
import { collect, positiveInteger } from './options.ts'

interface HostOptions {
  llama: string
  llamaSocket?: string
  listen?: string[]
  apiKey?: string
  maxConnections: number
  maxRequestsPerPeer?: number
  concurrency?: number
  allowPeer?: string[]
  blockPeer?: string[]
  logPrompts?: boolean
  view: boolean
}

export function registerHost(program: Command): void {
  program
    .command('host')
    .description('share a local model with guests')
    .option('--llama <url>', 'llama-server base URL', 'http://127.0.0.1:8080')
    .option('--llama-socket <path>', 'reach llama-server on a Unix socket instead')
    .option('--listen <multiaddr>', 'address to listen on (repeatable)', collect)
    .option(
      '--api-key <key>',
      'require this key from guests (env P2P_LLM_API_KEY)',
      process.env.P2P_LLM_API_KEY,
    )
    .option('--max-connections <n>', 'most guests served at once', positiveInteger, 10)
    .option(
      '--max-requests-per-peer <n>',
      'most requests one guest may have in flight (default 4)',
      positiveInteger,
    )
    .option(
      '--concurrency <n>',
      "requests the backend runs at once: llama-server's --parallel (default 1)",
      positiveInteger,
    )
    .option('--allow-peer <peerId>', 'only let these peers in (repeatable)', collect)
    .option('--block-peer <peerId>', 'refuse this peer (repeatable)', collect)
    .option(
      '--log-prompts',
      'show prompts in the request log (off: prompts are the guests’ business)',
    )
    .option('--no-view', 'print plain log lines even on a terminal')
    .action(async (options: HostOptions) => {
      const backend = llamaCpp({ url: options.llama, socketPath: options.llamaSocket })
      const target = options.llamaSocket != null ? `unix:${options.llamaSocket}` : options.llama
      const host = await createModelHost({
        backend,
        apiKey: options.apiKey,
        maxConnections: options.maxConnections,
        maxRequestsPerPeer: options.maxRequestsPerPeer,
        maxConcurrentRequests: options.concurrency,
        allowPeers: options.allowPeer,
        blockPeers: options.blockPeer,
        logPrompts: options.logPrompts,
        listen: options.listen,
      })
      await backend.health?.().catch((err: Error) => {
        console.error(`warning: llama-server at ${target} is not answering yet (${err.message})`)
      })
      const view = createHostView({
        host,
        backendLabel: `llama.cpp at ${target}`,
        interactive: options.view && process.stdout.isTTY === true,
      })
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve())
        process.once('SIGTERM', () => resolve())
      })
      view.stop()
      console.error('Stopping…')
      await host.stop()
      await backend.close?.()
    })
}
