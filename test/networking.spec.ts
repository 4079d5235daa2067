/**
 * Sharing across networks, with real libp2p nodes on loopback: the host as its own hub, a
 * separate relay as hub with WebRTC and the relayed fallback, identity files, pluggable
 * transports, and plain js-libp2p clients as a browser app would write them.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { lpStream } from '@libp2p/utils'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../scripts/run-llama-server.ts'
import {
  connectToModel,
  createModelHost,
  createRelay,
  type ModelBackend,
  type ModelHost,
  modelHost,
  parseShareUrl,
  type Relay,
  type RemoteModel,
} from '../src/index.ts'

/** Echoes the prompt back (so large frames can be checked byte for byte), in 3 pieces. */
const echo: ModelBackend = {
  async *generate(request) {
    const text = request.prompt ?? request.messages?.at(-1)?.content ?? ''
    const third = Math.ceil(text.length / 3)
    for (let i = 0; i < text.length; i += third) yield { content: text.slice(i, i + third) }
  },
}

// Offline machine and loopback: no STUN servers (see docs/networking.md).
const iceServers: RTCIceServer[] = []

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {})
})

async function startRelay(): Promise<Relay> {
  const relay = await createRelay()
  cleanup.push(() => relay.stop())
  return relay
}

async function startHost(
  init: Partial<Parameters<typeof createModelHost>[0]> = {},
): Promise<ModelHost> {
  const host = await createModelHost({ backend: echo, iceServers, ...init })
  cleanup.push(() => host.stop())
  return host
}

async function connect(
  address: string,
  options: Parameters<typeof connectToModel>[1] = {},
): Promise<RemoteModel> {
  const model = await connectToModel(address, { iceServers, ...options })
  cleanup.push(() => model.close())
  return model
}

describe('host as its own hub (no signalling)', () => {
  it('is reached directly through its share URL', async () => {
    const host = await startHost()
    const url = parseShareUrl(host.shareUrl)
    expect(url.peerId).toBe(host.peerId)
    expect(host.multiaddrs).toContain(`/ip4/127.0.0.1/tcp/${url.hubPort}/ws/p2p/${host.peerId}`)
    const model = await connect(host.shareUrl)
    expect(model.connection.kind).toBe('direct')
    expect((await model.complete({ prompt: 'hello there' })).content).toBe('hello there')
    expect(host.connections()).toMatchObject([{ kind: 'direct' }])
  })

  it('runs the relay service, so it can be a hub for others too', async () => {
    const hubHost = await startHost()
    const behind = await startHost({ signalling: parseShareUrlAddress(hubHost.shareUrl) })
    const model = await connect(behind.shareUrl)
    expect(model.connection.kind).toBe('webrtc')
    expect((await model.complete({ prompt: 'via another host' })).content).toBe('via another host')
  })
})

function parseShareUrlAddress(shareUrl: string): string {
  const { hubHost, hubPort } = parseShareUrl(shareUrl)
  return `${hubHost}:${hubPort}`
}

describe('a separate relay as signalling hub', () => {
  it('upgrades the guest to WebRTC, which survives the relay going away', async () => {
    const relay = await startRelay()
    const host = await startHost({ signalling: relay.address })
    expect(host.shareUrl).toBe(`p2p://${host.peerId}@${relay.address}`)
    expect(host.multiaddrs.some((ma) => ma.includes(`/p2p/${relay.peerId}/p2p-circuit`))).toBe(true)

    const model = await connect(host.shareUrl)
    expect(model.connection.kind).toBe('webrtc')
    expect((await model.complete({ prompt: 'before' })).content).toBe('before')
    expect(host.connections()).toMatchObject([{ peerId: model.localPeerId, kind: 'webrtc' }])

    await relay.stop()
    const pieces: string[] = []
    for await (const chunk of model.stream({ prompt: 'after the relay is gone' }))
      pieces.push(chunk.content)
    expect(pieces.join('')).toBe('after the relay is gone')
    expect(model.connection.kind).toBe('webrtc')
  })

  it('carries frames far larger than one 16 KiB data-channel message intact over WebRTC', async () => {
    const relay = await startRelay()
    const host = await startHost({ signalling: relay.address })
    const model = await connect(host.shareUrl)
    expect(model.connection.kind).toBe('webrtc')
    // 200 KB of varied text: a request frame and reply frames of ~67 KB each.
    const prompt = Array.from({ length: 20_000 }, (_, i) => `${i % 97}é`)
      .join(' ')
      .slice(0, 200_000)
    expect((await model.complete({ prompt })).content).toBe(prompt)
    const pieces: string[] = []
    for await (const chunk of model.stream({ prompt })) pieces.push(chunk.content)
    expect(pieces.join('')).toBe(prompt)
  })

  it('falls back to the relayed connection when WebRTC is off on the guest', async () => {
    const relay = await startRelay()
    const host = await startHost({ signalling: relay.address })
    const model = await connect(host.shareUrl, { webrtc: false })
    expect(model.connection.kind).toBe('relayed')
    expect(model.connection.remoteAddr).toContain(`/p2p/${relay.peerId}/p2p-circuit`)
    expect((await model.complete({ prompt: 'short and relayed' })).content).toBe(
      'short and relayed',
    )
    expect(host.connections()).toMatchObject([{ kind: 'relayed' }])
  })

  it('gives up a WebRTC attempt that hangs and tries again', async () => {
    const relay = await startRelay()
    const host = await startHost({ signalling: relay.address })
    // The first dial hangs until aborted, as when the DTLS handshake failed unnoticed
    // (see dialWebRTC in src/guest/connect.ts).
    let dials = 0
    const hangingOnce =
      (factory: ReturnType<typeof webRTC>): ReturnType<typeof webRTC> =>
      (components) => {
        const transport = factory(components)
        const dial = transport.dial.bind(transport)
        transport.dial = async (ma, options) => {
          if (++dials > 1) return dial(ma, options)
          return new Promise((_resolve, reject) =>
            options.signal?.addEventListener('abort', () => reject(options.signal?.reason)),
          )
        }
        return transport
      }
    const model = await connect(host.shareUrl, {
      transports: [
        webSockets(),
        hangingOnce(webRTC({ rtcConfiguration: { iceServers } })),
        circuitRelayTransport(),
      ],
    })
    // Waiting out the hung dial would have used the whole webrtcTimeout and ended relayed.
    expect(model.connection.kind).toBe('webrtc')
    expect(dials).toBeGreaterThanOrEqual(2)
    expect((await model.complete({ prompt: 'second try' })).content).toBe('second try')
  })

  it('fails with a clear error when the hub is unreachable', async () => {
    const port = await freePort()
    await expect(
      startHost({ signalling: `127.0.0.1:${port}`, signallingTimeout: 3000 }),
    ).rejects.toMatchObject({
      code: 'CONNECTION_FAILED',
      message: expect.stringContaining(`127.0.0.1:${port}`),
    })
  })
})

describe('identity file', () => {
  it('keeps the peer id and share URL across restarts, and guests reconnect', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2p-llm-identity-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const identity = join(dir, 'nested', 'host.key')
    const port = await freePort()
    const listen = [`/ip4/127.0.0.1/tcp/${port}/ws`]

    const first = await createModelHost({ backend: echo, identity, listen })
    const { peerId, shareUrl } = first
    expect((await stat(identity)).mode & 0o777).toBe(0o600)
    const keyBytes = await readFile(identity)

    const model = await connect(shareUrl)
    expect((await model.complete({ prompt: 'one' })).content).toBe('one')
    await first.stop()

    const second = await startHost({ identity, listen })
    expect(second.peerId).toBe(peerId)
    expect(second.shareUrl).toBe(shareUrl)
    expect(await readFile(identity)).toEqual(keyBytes)
    // The same RemoteModel notices the dropped connection and redials.
    expect((await model.complete({ prompt: 'two' })).content).toBe('two')
  })

  it('rejects a file that holds no key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2p-llm-identity-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const identity = join(dir, 'bad.key')
    await import('node:fs/promises').then((fs) => fs.writeFile(identity, 'not a key'))
    await expect(createModelHost({ backend: echo, identity })).rejects.toMatchObject({
      name: 'InvalidIdentityError',
    })
  })
})

describe('pluggable transports', () => {
  it('host and guest on a transport the defaults do not use (in-memory)', async () => {
    const host = await startHost({ transports: [memory()], listen: ['/memory/p2p-llm-test-host'] })
    expect(host.multiaddrs).toEqual([`/memory/p2p-llm-test-host/p2p/${host.peerId}`])
    const model = await connect(host.multiaddrs[0] as string, { transports: [memory()] })
    expect((await model.complete({ prompt: 'in memory' })).content).toBe('in memory')
  })

  it('extends the defaults with a function', async () => {
    const host = await startHost({
      transports: (defaults) => [...defaults, memory()],
      listen: ['/ip4/127.0.0.1/tcp/0/ws', '/memory/p2p-llm-test-extended'],
    })
    const model = await connect(`/memory/p2p-llm-test-extended/p2p/${host.peerId}`, {
      transports: (defaults) => [...defaults, memory()],
    })
    expect((await model.complete({ prompt: 'extended' })).content).toBe('extended')
    expect((await (await connect(host.shareUrl)).complete({ prompt: 'ws too' })).content).toBe(
      'ws too',
    )
  })

  it("adds sharing to an app's own libp2p node with the modelHost() service", async () => {
    const appNode = await createLibp2p({
      addresses: { listen: ['/memory/p2p-llm-test-app'] },
      transports: [memory()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        modelHost: modelHost({ backend: echo, maxConnections: 3 }),
      },
    })
    cleanup.push(async () => appNode.stop())
    const requests: string[] = []
    appNode.services.modelHost.addEventListener('request:end', ({ detail }) =>
      requests.push(detail.peerId),
    )

    // The guest too brings its own node.
    const guestNode = await createLibp2p({
      transports: [memory()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
    })
    cleanup.push(async () => guestNode.stop())
    const model = await connect(`/memory/p2p-llm-test-app/p2p/${appNode.peerId}`, {
      libp2p: guestNode,
    })
    expect((await model.complete({ prompt: 'app node' })).content).toBe('app node')
    expect(requests).toEqual([guestNode.peerId.toString()])
    expect(appNode.services.modelHost.connections()).toMatchObject([
      { peerId: guestNode.peerId.toString() },
    ])
    await model.close()
    expect(guestNode.status).toBe('started') // close() leaves a node it did not create running
  })
})

describe('a plain js-libp2p client, as a browser app would write it', () => {
  it('reaches /llama/1.0.0 through the hub over WebRTC', async () => {
    const relay = await startRelay()
    const host = await startHost({ signalling: relay.address })
    const client = await createLibp2p({
      transports: [
        webSockets(),
        webRTC({ rtcConfiguration: { iceServers } }),
        circuitRelayTransport(),
      ],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() },
    })
    cleanup.push(async () => client.stop())
    const hub = relay.multiaddrs.find((ma) => ma.includes('/ws/')) as string
    const connection = await client.dial(multiaddr(`${hub}/p2p-circuit/webrtc/p2p/${host.peerId}`))
    expect(connection.remoteAddr.toString()).toContain('/webrtc')
    const stream = await connection.newStream('/llama/1.0.0')
    const lp = lpStream(stream)
    await lp.write(
      new TextEncoder().encode(JSON.stringify({ prompt: 'plain client', stream: true })),
    )
    const frames: unknown[] = []
    for (;;) {
      const frame = JSON.parse(new TextDecoder().decode((await lp.read()).subarray())) as {
        data: { stop: boolean }
      }
      frames.push(frame)
      if (frame.data.stop) break
    }
    expect(
      frames.map((frame) => (frame as { data: { content: string } }).data.content).join(''),
    ).toBe('plain client')
  })
})
