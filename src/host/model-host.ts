/**
 * `createModelHost()`: a ready-made libp2p node that shares one model. For apps that run their
 * own node, `modelHost()` (./model-host-service.ts) adds the same service to it.
 */
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { mplex } from '@libp2p/mplex'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { TypedEventEmitter } from 'main-event'
import { formatShareUrl } from '../codec/share-url.ts'
import { DEFAULT_LISTEN } from './constants.ts'
import type { ModelHostEvents } from './events.ts'
import type { GuestConnection } from './guest-registry.ts'
import {
  type BlockOptions,
  type HostStats,
  type ModelHostService,
  type ModelHostServiceInit,
  modelHost,
} from './model-host-service.ts'

export interface ModelHostInit extends ModelHostServiceInit {
  /**
   * Multiaddrs to listen on. The first `/ws` one becomes the share URL's hub address.
   *
   * @default ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] (loopback only, free ports)
   */
  listen?: string[]
  /** The node's identity; a new one each start when absent (so a new peer id and share URL). */
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

  constructor(libp2p: Libp2p<{ modelHost: ModelHostService }>) {
    super()
    this.libp2p = libp2p
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
    for (const ma of this.libp2p.getMultiaddrs()) {
      const parts = ma.getComponents()
      const [ip, port, ws] = parts
      if (ip == null || port?.name !== 'tcp' || ws?.name !== 'ws' || parts[3]?.name !== 'p2p')
        continue
      if (!['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(ip.name)) continue
      return formatShareUrl({
        peerId: this.peerId,
        hubHost: ip.value ?? '',
        hubPort: Number(port.value),
        secure: false,
      })
    }
    throw new Error(
      'This host has no WebSocket listener, so no share URL: add a /ws address to `listen`',
    )
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
  const { listen, privateKey, ...serviceInit } = init
  let service: ModelHostService | undefined
  const libp2p = await createLibp2p({
    privateKey,
    addresses: { listen: listen ?? DEFAULT_LISTEN },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    // yamux first: it has flow control; mplex only for clients that offer nothing else.
    streamMuxers: [yamux(), mplex()],
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
    },
  })
  service = libp2p.services.modelHost
  return new DefaultModelHost(libp2p)
}
