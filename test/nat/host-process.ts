/**
 * The host side of the NAT drill, run inside the host's namespace:
 * `node --import tsx test/nat/host-process.ts '{"signalling":"172.16.0.1:4001","iceServer":[…]}'`.
 *
 * Shares an echo backend through the hub (what `p2p-llm host --signalling … --ice-server …`
 * does, minus llama-server) and prints one JSON line per event on stdout: `ready` with the share
 * URL, then `peer:connect` with the kind of each guest's connection. Stops on SIGTERM.
 */
import { iceServersFrom } from '../../src/cli/options.ts'
import { createModelHost, type ModelBackend } from '../../src/index.ts'

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

const started = performance.now()
const host = await createModelHost({
  backend: echo,
  signalling: args.signalling,
  listen: ['/ip4/0.0.0.0/tcp/0'],
  iceServers: iceServersFrom({ iceServer: args.iceServer, stun: false }),
})
host.addEventListener('peer:connect', ({ detail }) => print({ event: 'peer:connect', ...detail }))
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
