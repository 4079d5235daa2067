/** `p2p-llm host`: share a local model with guests. */
import { join } from 'node:path'
import type { Command } from 'commander'
import { createModelHost } from '../host/index.ts'
import { backendFromOptions } from './backend.ts'
import { createHostView } from './host-view.ts'
import { collect, configDir, iceServersFrom, port, positiveInteger } from './options.ts'
import { panelSettingsFromHostFlags, runPanel } from './panel.ts'
import { copyToClipboard, terminalQrCode } from './share.ts'

interface HostOptions {
  llama: string
  llamaSocket?: string
  openai?: string
  openaiKey?: string
  openaiModel?: string
  model?: string
  threads?: number
  signalling?: string
  port: number
  listen?: string[]
  announce?: string[]
  identity?: string
  ephemeral?: boolean
  iceServer?: string[]
  stun: boolean
  webrtcDirect?: boolean
  apiKey?: string
  maxConnections: number
  maxRequestsPerPeer?: number
  concurrency?: number
  allowPeer?: string[]
  blockPeer?: string[]
  logPrompts?: boolean
  view: boolean
  clipboard: boolean
  qr: boolean
  ui?: boolean
}

export function registerHost(program: Command): void {
  program
    .command('host')
    .description('share a local model with guests')
    .option('--llama <url>', 'llama-server base URL', 'http://127.0.0.1:8080')
    .option('--llama-socket <path>', 'reach llama-server on a Unix socket instead')
    .option(
      '--openai <baseURL>',
      'share an OpenAI-compatible server instead (Ollama, LM Studio, vLLM), e.g. http://127.0.0.1:11434/v1',
    )
    .option('--openai-key <key>', "that server's API key")
    .option('--openai-model <name>', 'model to ask that server for')
    .option(
      '--model <file.gguf>',
      'run a GGUF model in-process instead (needs the optional package node-llama-cpp)',
    )
    .option(
      '--threads <n>',
      'CPU threads for --model (default: one fewer than the CPUs)',
      positiveInteger,
    )
    .option(
      '--signalling <host:port>',
      'a signalling hub (p2p-llm relay) to reach guests through; default: be your own hub',
    )
    .option('--port <port>', 'WebSocket port of the built-in hub (0: any free port)', port, 0)
    .option(
      '--listen <multiaddr>',
      'listen on exactly these addresses instead (repeatable)',
      collect,
    )
    .option(
      '--announce <multiaddr>',
      'public address to announce, e.g. /dns/me.example.com/tcp/4001/ws (repeatable)',
      collect,
    )
    .option(
      '--identity <file>',
      'private-key file: keeps the peer id and share URL across restarts',
      join(configDir(), 'host.key'),
    )
    .option('--ephemeral', 'use a new identity (and share URL) each time')
    .option(
      '--ice-server <url>',
      'STUN/TURN server for WebRTC, e.g. stun:stun.example.com:3478 or turn:user:pass@host:3478 (repeatable)',
      collect,
    )
    .option('--no-stun', 'use no STUN servers (LAN, offline); default: public STUN servers')
    .option('--webrtc-direct', 'also accept WebRTC-Direct (UDP): browsers dial it without TLS')
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
    .option('--no-clipboard', 'do not copy the share URL to the clipboard')
    .option('--no-qr', 'do not print the share URL as a QR code')
    .option(
      '--ui',
      'run the control panel (a local web page, 127.0.0.1 only) instead of the terminal view',
    )
    .action(async (options: HostOptions) => {
      if (options.ui === true) {
        await runPanel({
          settings: panelSettingsFromHostFlags(options),
          start: true,
          listen: options.listen,
          iceServers: iceServersFrom(options),
          identity: options.ephemeral === true ? false : options.identity,
          hostOptions: {
            announce: options.announce,
            webrtcDirect: options.webrtcDirect,
            maxRequestsPerPeer: options.maxRequestsPerPeer,
            maxConcurrentRequests: options.concurrency,
            allowPeers: options.allowPeer,
          },
        })
        return
      }
      const { backend, label } = await backendFromOptions(options)
      const host = await createModelHost({
        backend,
        signalling: options.signalling,
        // Reachable on the LAN by default (the share URL names this machine's LAN address).
        listen: options.listen ?? ['/ip4/0.0.0.0/tcp/0', `/ip4/0.0.0.0/tcp/${options.port}/ws`],
        announce: options.announce,
        identity: options.ephemeral === true ? undefined : options.identity,
        iceServers: iceServersFrom(options),
        webrtcDirect: options.webrtcDirect,
        apiKey: options.apiKey,
        maxConnections: options.maxConnections,
        maxRequestsPerPeer: options.maxRequestsPerPeer,
        maxConcurrentRequests: options.concurrency,
        allowPeers: options.allowPeer,
        blockPeers: options.blockPeer,
        logPrompts: options.logPrompts,
      })
      await backend.health?.().catch((err: Error) => {
        console.error(`warning: the backend is not answering yet (${err.message})`)
      })
      if (options.qr) console.log(await terminalQrCode(host.shareUrl))
      if (options.clipboard && (await copyToClipboard(host.shareUrl)))
        console.log('(share URL copied to the clipboard)')
      const view = createHostView({
        host,
        backendLabel: label,
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
