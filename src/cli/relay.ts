/** `p2p-llm relay`: run a signalling hub for hosts behind NAT. */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import { createRelay } from '../relay/index.ts'
import { collect, configDir, nonNegativeInteger, port, positiveInteger } from './options.ts'

interface RelayOptions {
  host: string
  port: number
  listen?: string[]
  announce?: string[]
  identity: string
  ephemeral?: boolean
  tlsCert?: string
  tlsKey?: string
  maxReservations?: number
  maxRelayedBytes?: number
  maxRelayedDuration?: number
}

export function registerRelay(program: Command): void {
  program
    .command('relay')
    .description(
      'run a signalling hub (circuit relay v2) that hosts behind NAT and their guests meet on',
    )
    .option('--host <ip>', 'IP address to listen on', '0.0.0.0')
    .option('--port <port>', 'WebSocket port (TCP listens on the next one)', port, 4001)
    .option(
      '--listen <multiaddr>',
      'listen on exactly these addresses instead (repeatable)',
      collect,
    )
    .option(
      '--announce <multiaddr>',
      'public address to announce, e.g. /dns/hub.example.com/tcp/443/tls/ws (repeatable)',
      collect,
    )
    .option(
      '--identity <file>',
      'private-key file: keeps the peer id across restarts',
      join(configDir(), 'relay.key'),
    )
    .option('--ephemeral', 'use a new identity each time')
    .option(
      '--tls-cert <file>',
      'PEM certificate: serve secure WebSockets (wss), as browsers on https pages need',
    )
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option(
      '--max-reservations <n>',
      'hosts that may hold a slot at once (default 128)',
      positiveInteger,
    )
    .option(
      '--max-relayed-bytes <n>',
      'bytes one relayed connection may carry, 0: no limit (default 64 MiB)',
      nonNegativeInteger,
    )
    .option(
      '--max-relayed-duration <ms>',
      'how long one relayed connection may last, 0: no limit (default 30 min)',
      nonNegativeInteger,
    )
    .action(async (options: RelayOptions) => {
      if ((options.tlsCert == null) !== (options.tlsKey == null))
        throw new Error('--tls-cert and --tls-key go together')
      const tls =
        options.tlsCert != null && options.tlsKey != null
          ? { cert: await readFile(options.tlsCert), key: await readFile(options.tlsKey) }
          : undefined
      const relay = await createRelay({
        listen: options.listen ?? [
          `/ip4/${options.host}/tcp/${options.port}/ws`,
          `/ip4/${options.host}/tcp/${options.port === 0 ? 0 : options.port + 1}`,
        ],
        announce: options.announce,
        identity: options.ephemeral === true ? undefined : options.identity,
        tls,
        maxReservations: options.maxReservations,
        maxRelayedBytes: options.maxRelayedBytes,
        maxRelayedDuration: options.maxRelayedDuration,
      })
      console.log(`Relay ${relay.peerId} is up.`)
      console.log(`Hosts use it with: p2p-llm host --signalling ${relay.address}`)
      console.log('Addresses:')
      for (const address of relay.multiaddrs) console.log(`  ${address}`)
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve())
        process.once('SIGTERM', () => resolve())
      })
      await relay.stop()
    })
}
