/**
 * `npm run bench:connect`: how long `connectToModel()` takes to reach a host, and the first
 * request's round trip, per path: TCP, WebSockets (host as its own hub), WebRTC through a
 * separate hub, and the relayed connection through it. Host and hub each run in this process;
 * every guest is a new libp2p node (a cold connect), as in real use. No STUN (loopback).
 */
import { cpus } from 'node:os'
import { connectToModel, createModelHost, createRelay, type ModelBackend } from '../src/index.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 20)
const echo: ModelBackend = {
  async *generate(request) {
    yield { content: request.prompt ?? '', stop: true }
  },
}
const iceServers: RTCIceServer[] = []
const relay = await createRelay()
const ownHub = await createModelHost({ backend: echo, iceServers })
const behindHub = await createModelHost({ backend: echo, iceServers, signalling: relay.address })
const tcp = ownHub.multiaddrs.find((ma) => !ma.includes('/ws')) as string

const paths: Record<string, { address: string; options: Parameters<typeof connectToModel>[1] }> = {
  'direct TCP': { address: tcp, options: {} },
  'direct WebSockets (share URL, own hub)': { address: ownHub.shareUrl, options: {} },
  'WebRTC via a separate hub': { address: behindHub.shareUrl, options: {} },
  'relayed via a separate hub': { address: behindHub.shareUrl, options: { webrtc: false } },
}

const quantile = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[
    Math.min(values.length - 1, Math.floor(q * values.length))
  ] as number
const rows: Record<string, Record<string, string>> = {}
try {
  for (const [name, { address, options }] of Object.entries(paths)) {
    const connect: number[] = []
    const first: number[] = []
    const kinds = new Map<string, number>()
    for (let i = 0; i < rounds + 2; i++) {
      const started = performance.now()
      const model = await connectToModel(address, { iceServers, ...options })
      const connected = performance.now()
      await model.complete({ prompt: 'ping' })
      const answered = performance.now()
      kinds.set(model.connection.kind, (kinds.get(model.connection.kind) ?? 0) + 1)
      await model.close()
      if (i < 2) continue // warm-up
      connect.push(connected - started)
      first.push(answered - connected)
    }
    rows[name] = {
      'connect p50': `${quantile(connect, 0.5).toFixed(0)} ms`,
      'connect p90': `${quantile(connect, 0.9).toFixed(0)} ms`,
      'first request p50': `${quantile(first, 0.5).toFixed(1)} ms`,
      kinds: [...kinds].map(([kind, count]) => `${kind}×${count}`).join(' '),
    }
  }
} finally {
  await behindHub.stop()
  await ownHub.stop()
  await relay.stop()
}
console.log(
  `\nconnect times, ${rounds} cold guests per path, loopback, Node ${process.versions.node}, ${cpus().length} cores\n`,
)
console.table(rows)
