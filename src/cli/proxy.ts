/** `p2p-llm proxy`: an OpenAI-compatible HTTP API on this machine for a shared model. */
import type { Command } from 'commander'
import { createOpenAIProxy } from '../proxy/index.ts'
import { collect, iceServersFrom, port } from './options.ts'

interface ProxyOptions {
  port: number
  host: string
  apiKey?: string
  hostApiKey?: string
  modelName?: string
  iceServer?: string[]
  stun: boolean
  webrtc: boolean
}

/** Where OpenAI clients are told to look by default; any free port with `--port 0`. */
const DEFAULT_CLI_PORT = 8000

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description(
      'serve a shared model as an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models)',
    )
    .argument(
      '<address>',
      'share URL (p2p://<peerId>@<host>:<port>) or multiaddr ending in /p2p/<peerId>',
    )
    .option('--port <port>', 'HTTP port (0: any free port)', port, DEFAULT_CLI_PORT)
    .option(
      '--host <ip>',
      'interface to listen on; others than loopback want --api-key',
      '127.0.0.1',
    )
    .option(
      '--api-key <key>',
      'key HTTP clients must send as "Authorization: Bearer <key>" (env P2P_LLM_PROXY_API_KEY)',
      process.env.P2P_LLM_PROXY_API_KEY,
    )
    .option(
      '--host-api-key <key>',
      "the shared model's host API key (env P2P_LLM_API_KEY)",
      process.env.P2P_LLM_API_KEY,
    )
    .option('--model-name <name>', "name to report for the model (default: the host's)")
    .option('--ice-server <url>', 'STUN/TURN server for WebRTC (repeatable)', collect)
    .option('--no-stun', 'use no STUN servers (LAN, offline)')
    .option('--no-webrtc', 'stay on the relayed connection through a hub')
    .action(async (address: string, options: ProxyOptions) => {
      const proxy = await createOpenAIProxy({
        address,
        port: options.port,
        host: options.host,
        apiKey: options.apiKey,
        hostApiKey: options.hostApiKey,
        modelName: options.modelName,
        iceServers: iceServersFrom(options),
        webrtc: options.webrtc,
      })
      console.log(`OpenAI-compatible API for ${address}`)
      console.log(`  base URL: ${proxy.url}`)
      console.log(
        `  try it:   curl ${proxy.url}/chat/completions -H 'content-type: application/json'` +
          `${options.apiKey != null ? " -H 'authorization: Bearer …'" : ''}` +
          ` -d '{"messages":[{"role":"user","content":"Hi"}]}'`,
      )
      if (!LOOPBACK.has(options.host) && options.apiKey == null) {
        console.error(
          `warning: listening on ${options.host} without --api-key: anyone who reaches this port uses the model`,
        )
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve())
        process.once('SIGTERM', () => resolve())
      })
      await proxy.close()
    })
}
