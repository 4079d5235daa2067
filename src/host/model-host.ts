/**
 * `createModelHost()`: a ready-made libp2p node that shares one model. For apps that run their
 * own node, `modelHost()` (./model-host-service.ts) adds the same service to it.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { mplex } from '@libp2p/mplex'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { TypedEventEmitter } from 'main-event'
import { ConnectionError } from '../codec/errors.ts'
import { type HubAddress, parseHubAddress } from '../codec/hub-address.ts'
import { formatShareUrl } from '../codec/share-url.ts'
import type { TransportFactories } from '../codec/transports.ts'
import { loadOrCreateIdentity } from '../identity/index.ts'
import { type RelayLimits, relayService } from '../relay/relay-service.ts'
import {
  DEFAULT_LISTEN,
  DEFAULT_MAX_INBOUND_STREAMS,
  DEFAULT_SIGNALLING_TIMEOUT,
} from './constants.ts'
import type { ModelHostEvents } from './events.ts'
import type { GuestConnection } from './guest-registry.ts'
import {
  type BlockOptions,
  type HostStats,
  type ModelHostService,
  type ModelHostServiceInit,
  modelHost,
} from './model-host-service.ts'

export interface ModelHostInit extends ModelHostServiceInit, RelayLimits {
  /**
   * Multiaddrs to listen on. The first `/ws` one is the share URL's hub address when the host
   * is its own hub (no `signalling`).
   *
   * @default ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] (loopback only, free ports)
   */
  listen?: string[]
  /** Addresses to announce instead of the listen addresses (a public IP or DNS name, a port forward). */
  announce?: string[]
  /**
   * A signalling hub (`host:port`, `wss://host:port` or a multiaddr) to reserve a slot on:
   * guests reach the host through it and upgrade to WebRTC. Without it the host is its own
   * hub: it runs the relay service on its WebSocket listener, and guests dial it directly.
   */
  signalling?: string
  /**
   * How long to wait for a slot on the signalling hub when starting, in ms.
   *
   * @default 20_000
   */
  signallingTimeout?: number
  /** Also listen for WebRTC-Direct (UDP) on each listen IP: browsers dial it without TLS. */
  webrtcDirect?: boolean
  /**
   * STUN/TURN servers for WebRTC. Absent: libp2p's defaults (public STUN servers), right for
   * hosts and guests behind NATs on the internet. `[]` for LANs, tests and offline machines.
   */
  iceServers?: RTCIceServer[]
  /**
   * Transports replacing the defaults (TCP, WebSockets, and with `signalling` WebRTC and the
   * circuit relay), or a function that receives the defaults and returns the set to use.
   */
  transports?: TransportFactories | ((defaults: TransportFactories) => TransportFactories)
  /** Path of a private-key file, created on first use (mode 0600): a peer id and share URL that survive restarts. */
  identity?: string
  /** The host's identity, when not read from `identity`. A new one each start when neither is given. */
  privateKey?: PrivateKey
}

const EVENT_TYPES: Array<keyof ModelHostEvents> = [
  'peer:connect',
  'peer:disconnect',
  'peer:reject',
  'request:start',
  'request:end',
  'request:error',
]

export interface ModelHost extends TypedEventEmitter<ModelHostEvents> {
  /** This host's peer id. */
  readonly peerId: string
  /** Every address the host listens on, each ending in `/p2p/<peerId>`. */
  readonly multiaddrs: string[]
  /** `p2p://<peerId>@<host>:<port>`: what guests pass to `connectToModel()`. */
  readonly shareUrl: string
  /** The underlying libp2p node, for advanced use. */
  readonly libp2p: Libp2p<{ modelHost: ModelHostService }>
  /** The guests connected now: peer id, address, kind (direct / relayed / webrtc), since, requests. */
  connections(): GuestConnection[]
  /** Totals and current figures. */
  stats(): HostStats
  /** Closes every connection to a guest (it may come back; see `block`). */
  disconnect(peerId: string): Promise<void>
  /** Disconnects a guest and refuses it from now on (or for `options.duration` ms). */
  block(peerId: string, options?: BlockOptions): Promise<void>
  /** Lets a blocked peer back in. */
  unblock(peerId: string): void
  /** Stops serving: aborts requests in flight, closes every connection and listener. */
  stop(): Promise<void>
}

class DefaultModelHost extends TypedEventEmitter<ModelHostEvents> implements ModelHost {
  readonly libp2p: Libp2p<{ modelHost: ModelHostService }>
  private readonly service: ModelHostService
  private readonly hub?: HubAddress

  constructor(libp2p: Libp2p<{ modelHost: ModelHostService }>, hub?: HubAddress) {
    super()
    this.libp2p = libp2p
    this.hub = hub
    this.service = libp2p.services.modelHost
    for (const type of EVENT_TYPES) {
      this.service.addEventListener(type, (event) =>
        this.safeDispatchEvent(type, { detail: event.detail }),
      )
    }
  }

  get peerId(): string {
    return this.libp2p.peerId.toString()
  }

  get multiaddrs(): string[] {
    return this.libp2p.getMultiaddrs().map((ma) => ma.toString())
  }

  get shareUrl(): string {
    if (this.hub != null) {
      return formatShareUrl({
        peerId: this.peerId,
        hubHost: this.hub.host,
        hubPort: this.hub.port,
        secure: this.hub.secure,
      })
    }
    const own = pickOwnHubAddress(this.libp2p.getMultiaddrs())
    if (own == null) {
      throw new Error(
        'This host has no WebSocket listener, so no share URL: add a /ws address to `listen`',
      )
    }
    return formatShareUrl({ peerId: this.peerId, ...own })
  }

  connections(): GuestConnection[] {
    return this.service.connections()
  }

  stats(): HostStats {
    return this.service.stats()
  }

  disconnect(peerId: string): Promise<void> {
    return this.service.disconnect(peerId)
  }

  block(peerId: string, options?: BlockOptions): Promise<void> {
    return this.service.block(peerId, options)
  }

  unblock(peerId: string): void {
    this.service.unblock(peerId)
  }

  async stop(): Promise<void> {
    await this.libp2p.stop()
  }
}

/**
 * Starts a libp2p node that shares `init.backend` on `/llama/1.0.0` over TCP and WebSockets
 * (Noise encryption; yamux, and mplex for the original app's clients).
 *
 * @example
 * ```ts
 * import { createModelHost, llamaCpp } from 'p2p-llm'
 *
 * const host = await createModelHost({ backend: llamaCpp({ url: 'http://127.0.0.1:8080' }) })
 * console.log(host.shareUrl)
 * ```
 */
export async function createModelHost(init: ModelHostInit): Promise<ModelHost> {
  const {
    listen,
    announce,
    signalling,
    signallingTimeout,
    webrtcDirect,
    iceServers,
    transports,
    identity,
    privateKey,
    maxReservations,
    maxRelayedBytes,
    maxRelayedDuration,
    reservationTtl,
    ...serviceInit
  } = init
  const hub = signalling != null ? parseHubAddress(signalling) : undefined
  const rtcConfiguration = iceServers != null ? { iceServers } : undefined
  const defaultTransports: TransportFactories = [
    tcp(),
    webSockets(),
    ...(hub != null ? [webRTC({ rtcConfiguration }), circuitRelayTransport()] : []),
    ...(webrtcDirect === true ? [webRTCDirect({ rtcConfiguration })] : []),
  ]
  const listenAddresses = [
    ...(listen ?? DEFAULT_LISTEN),
    // With a hub: take a slot on it, and accept WebRTC set up through it.
    ...(hub != null ? ['/p2p-circuit', '/webrtc'] : []),
    ...(webrtcDirect === true ? webrtcDirectAddresses(listen ?? DEFAULT_LISTEN) : []),
  ]
  let service: ModelHostService | undefined
  const libp2p = await createLibp2p({
    privateKey: privateKey ?? (identity != null ? await loadOrCreateIdentity(identity) : undefined),
    addresses: { listen: listenAddresses, announce },
    transports:
      typeof transports === 'function'
        ? transports(defaultTransports)
        : (transports ?? defaultTransports),
    connectionEncrypters: [noise()],
    // yamux first: it has flow control; mplex only for clients that offer nothing else.
    // @libp2p/mplex 12 charges every inbound stream against a 5-per-second limit (documented
    // as applying only at maxInboundStreams), then drops the sixth stream silently and leaves
    // the connection half dead: a guest sending short requests in a row saw one in five fail
    // ("Unexpected EOF … 0/1 bytes" ten seconds later). The per-protocol maxInboundStreams and
    // the host's per-guest request limits are the flood guard instead.
    // maxEarlyStreams (yamux): libp2p drops a connection whose peer opens more than 10 streams
    // before the upgrade settles; a guest firing its first requests in parallel may do that.
    streamMuxers: [
      yamux({ maxEarlyStreams: DEFAULT_MAX_INBOUND_STREAMS }),
      mplex({ disconnectThreshold: Number.POSITIVE_INFINITY }),
    ],
    connectionManager: {
      // Guests arrive from few addresses (a NAT, a test on loopback): libp2p's default of 5
      // new connections per second per IP would refuse them.
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 100,
    },
    // Refuse blocked peers during the handshake, before they cost a muxer and streams.
    connectionGater: {
      denyInboundEncryptedConnection: (peerId) => service?.isBlocked(peerId.toString()) ?? false,
    },
    services: {
      identify: identify(),
      modelHost: modelHost(serviceInit),
      // Without a separate hub the host is its own: others may reserve slots on it too.
      ...(hub == null
        ? {
            relay: relayService({
              maxReservations,
              maxRelayedBytes,
              maxRelayedDuration,
              reservationTtl,
            }),
          }
        : {}),
    },
  })
  service = libp2p.services.modelHost
  if (hub != null) {
    try {
      await reserveSlot(libp2p, hub, signallingTimeout ?? DEFAULT_SIGNALLING_TIMEOUT)
    } catch (err) {
      await libp2p.stop()
      throw err
    }
  }
  return new DefaultModelHost(libp2p, hub)
}

/** Dials the hub and waits until it granted a slot (a `/p2p-circuit` address appears). */
async function reserveSlot(libp2p: Libp2p, hub: HubAddress, timeout: number): Promise<void> {
  const signal = AbortSignal.timeout(timeout)
  const hasSlot = (): boolean =>
    libp2p.getMultiaddrs().some((ma) => ma.toString().includes('/p2p-circuit'))
  const reserved = new Promise<void>((resolve, reject) => {
    const onUpdate = (): void => {
      if (!hasSlot()) return
      libp2p.removeEventListener('self:peer:update', onUpdate)
      resolve()
    }
    libp2p.addEventListener('self:peer:update', onUpdate)
    signal.addEventListener('abort', () => {
      libp2p.removeEventListener('self:peer:update', onUpdate)
      reject(
        new ConnectionError(
          `The signalling hub ${hub.host}:${hub.port} granted no slot within ${timeout} ms`,
        ),
      )
    })
  })
  // Awaited only if the dial succeeds; a failed dial must not leave it rejecting unheard.
  reserved.catch(() => {})
  try {
    await libp2p.dial(hub.multiaddr, { signal })
  } catch (err) {
    throw new ConnectionError(
      `Could not reach the signalling hub ${hub.host}:${hub.port}: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  if (!hasSlot()) await reserved
}

/** WebRTC-Direct listen addresses (UDP, free ports) on the IPs of the TCP listen addresses. */
function webrtcDirectAddresses(listen: string[]): string[] {
  const ips = new Set<string>()
  for (const address of listen) {
    const match = /^\/(ip4|ip6)\/([^/]+)\//.exec(address)
    if (match != null) ips.add(`/${match[1]}/${match[2]}`)
  }
  return [...ips].map((ip) => `${ip}/udp/0/webrtc-direct`)
}

/**
 * The host's own WebSocket address for its share URL: announced or LAN addresses before
 * loopback, never a wildcard.
 */
function pickOwnHubAddress(
  addresses: Multiaddr[],
): { hubHost: string; hubPort: number; secure: boolean } | undefined {
  const candidates: Array<{ hubHost: string; hubPort: number; secure: boolean; rank: number }> = []
  for (const ma of addresses) {
    const parts = ma.getComponents()
    const names = parts.map((part) => part.name)
    const [ip, port] = parts
    if (ip == null || port?.name !== 'tcp' || names.includes('p2p-circuit')) continue
    if (!(names.includes('ws') || names.includes('wss'))) continue
    const host = ip.value ?? ''
    if (host === '0.0.0.0' || host === '::') continue
    const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost'
    const rank = (
      ip.name.startsWith('dns') ? 0 : loopback ? 3 : ip.name === 'ip4' ? 1 : 2
    ) as number
    candidates.push({
      hubHost: host,
      hubPort: Number(port.value),
      secure: names.includes('tls') || names.includes('wss'),
      rank,
    })
  }
  candidates.sort((a, b) => a.rank - b.rank)
  const best = candidates[0]
  return best == null
    ? undefined
    : { hubHost: best.hubHost, hubPort: best.hubPort, secure: best.secure }
}
