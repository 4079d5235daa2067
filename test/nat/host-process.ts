/**
 * The host side of the NAT drill, run inside the host's namespace:
 * `node --import tsx test/nat/host-process.ts '{"signalling":"172.16.0.1:4001","iceServer":[…]}'`.
 *
 * Shares an echo backend through the hub (what `p2p-llm host --signalling … --ice-server …`
 * does, minus llama-server) and prints one JSON line per event on stdout: `ready` with the share
 * URL, `peer:connect` for each guest, and `request:start` with the kind of connection the
 * request arrived on and the kind `host.connections()` lists for the guest. Stops on SIGTERM.
 */
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { iceServersFrom } from '../../src/cli/options.ts'
import { connectionKind, createModelHost, type ModelBackend, PROTOCOL } from '../../src/index.ts'

interface HostProcessArgs {
  signalling: string
  /** `--ice-server` values, parsed as the CLI does (`turn:user:pass@host:port`). */
  iceServer: string[]
}

const args = JSON.parse(process.argv[2] ?? '{}') as HostProcessArgs

const echo: ModelBackend = {
  async *generate(request) {
    yield { content: request.prompt ?? request.messages?.at(-1)?.content ?? '' }
  },
}

const print = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

/** Waits until the hub accepts TCP connections: the drill starts hub and host together. */
async function hubListening(address: string, timeout: number): Promise<void> {
  const [, hostname = '', port = ''] = /^(.*):(\d+)$/.exec(address) ?? []
  const deadline = Date.now() + timeout
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: hostname, port: Number(port), timeout: 1_000 })
      const settle = (open: boolean) => () => {
        socket.destroy()
        resolve(open)
      }
      socket
        .once('connect', settle(true))
        .once('error', settle(false))
        .once('timeout', settle(false))
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`the hub ${address} is not listening`)
    await sleep(100)
  }
}

await hubListening(args.signalling, 30_000)
const started = performance.now()
const host = await createModelHost({
  backend: echo,
  signalling: args.signalling,
  listen: ['/ip4/0.0.0.0/tcp/0'],
  iceServers: iceServersFrom({ iceServer: args.iceServer, stun: false }),
})
host.addEventListener('peer:connect', ({ detail }) => print({ event: 'peer:connect', ...detail }))
// Over which connection each request arrives (the one carrying its /llama/1.0.0 stream), and
// what the host's guest list says about that guest at the time.
host.addEventListener('request:start', ({ detail }) => {
  const servedOver = host.libp2p
    .getConnections()
    .filter((connection) => connection.remotePeer.toString() === detail.peerId)
    .filter((connection) => connection.streams.some((stream) => stream.protocol === PROTOCOL))
    .map((connection) => connectionKind(connection))
  const listed = host.connections().find((guest) => guest.peerId === detail.peerId)
  print({ event: 'request:start', peerId: detail.peerId, servedOver, listedAs: listed?.kind })
})
print({
  event: 'ready',
  shareUrl: host.shareUrl,
  peerId: host.peerId,
  reserveMs: Math.round(performance.now() - started),
})

await new Promise<void>((resolve) => {
  process.once('SIGTERM', resolve)
  process.once('SIGINT', resolve)
})
await host.stop()
process.exit(0)
