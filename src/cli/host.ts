/** `p2p-llm host`: share a llama.cpp server with guests. */
import type { Command } from 'commander'
import { llamaCpp } from '../backends/index.ts'
import { createModelHost } from '../host/index.ts'
import { collect, positiveInteger } from './options.ts'

interface HostOptions {
  llama?: string
  llamaSocket?: string
  listen?: string[]
  apiKey?: string
  maxConnections?: number
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
    .action(async (options: HostOptions) => {
      const backend = llamaCpp({ url: options.llama, socketPath: options.llamaSocket })
      const host = await createModelHost({
        backend,
        apiKey: options.apiKey,
        maxConnections: options.maxConnections,
        listen: options.listen,
      })
      const target = options.llamaSocket != null ? `unix:${options.llamaSocket}` : options.llama
      await backend.health?.().catch((err: Error) => {
        console.error(`warning: llama-server at ${target} is not answering yet (${err.message})`)
      })
      console.log(`Sharing llama.cpp at ${target}`)
      console.log(`Peer id:   ${host.peerId}`)
      console.log(`Share URL: ${host.shareUrl}`)
      console.log('Addresses:')
      for (const address of host.multiaddrs) console.log(`  ${address}`)
      host.addEventListener('request:end', ({ detail }) => {
        const ttft =
          detail.timeToFirstToken != null ? ` ttft ${detail.timeToFirstToken.toFixed(0)} ms` : ''
        console.log(
          `${new Date().toISOString()} ${detail.peerId.slice(-8)} #${detail.id} ${detail.kind} ok ${detail.duration.toFixed(0)} ms${ttft}`,
        )
      })
      host.addEventListener('request:error', ({ detail }) => {
        console.log(
          `${new Date().toISOString()} ${detail.peerId.slice(-8)} #${detail.id ?? '-'} ${detail.error.code} ${detail.error.message}`,
        )
      })
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      console.error('Stopping…')
      await host.stop()
      await backend.close?.()
    })
}
