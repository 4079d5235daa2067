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
import type { P2PLLMError } from '../codec/errors.ts'
import { formatShareUrl } from '../codec/share-url.ts'
import { DEFAULT_LISTEN } from './constants.ts'
import {
  type ModelHostService,
  type ModelHostServiceInit,
  modelHost,
} from './model-host-service.ts'
import type { RequestInfo, RequestResult } from './request-handler.ts'

export interface ModelHostInit extends Omit<ModelHostServiceInit, 'observer'> {
  /**
   * Multiaddrs to listen on. The first `/ws` one becomes the share URL's hub address.
   *
   * @default ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] (loopback only, free ports)
   */
  listen?: string[]
  /** The node's identity; a new one each start when absent (so a new peer id and share URL). */
  privateKey?: PrivateKey
  /**
   * Most guest peers served at once; a guest over the limit gets `TOO_MANY_CONNECTIONS`.
   *
   * @default 10
   */
  maxConnections?: number
}

export interface RequestStartEvent extends RequestInfo {}
export interface RequestEndEvent extends RequestInfo, RequestResult {}
export interface RequestErrorEvent extends Partial<RequestInfo> {
  peerId: string
  error: P2PLLMError
}

export interface ModelHostEvents {
  'request:start': CustomEvent<RequestStartEvent>
  'request:end': CustomEvent<RequestEndEvent>
  'request:error': CustomEvent<RequestErrorEvent>
}

export interface ModelHost extends TypedEventEmitter<ModelHostEvents> {
  /** This host's peer id. */
  readonly peerId: string
  /** Every address the host listens on, each ending in `/p2p/<peerId>`. */
  readonly multiaddrs: string[]
  /** `p2p://<peerId>@<host>:<port>`: what guests pass to `connectToModel()`. */
  readonly shareUrl: string
  /** The underlying libp2p node, for advanced use. */
  readonly libp2p: Libp2p<{ modelHost: ModelHostService }>
  /** Stops serving: aborts requests in flight, closes every connection and listener. */
  stop(): Promise<void>
}

class DefaultModelHost extends TypedEventEmitter<ModelHostEvents> implements ModelHost {
  readonly libp2p: Libp2p<{ modelHost: ModelHostService }>

  constructor(libp2p: Libp2p<{ modelHost: ModelHostService }>) {
    super()
    this.libp2p = libp2p
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
      if (
        ip.name !== 'ip4' &&
        ip.name !== 'ip6' &&
        ip.name !== 'dns' &&
        ip.name !== 'dns4' &&
        ip.name !== 'dns6'
      )
        continue
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
  let host: DefaultModelHost | undefined
  const dispatch = <K extends keyof ModelHostEvents>(
    type: K,
    detail: ModelHostEvents[K]['detail'],
  ): void => {
    host?.safeDispatchEvent(type, { detail })
  }
  const libp2p = await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? DEFAULT_LISTEN },
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
    services: {
      identify: identify(),
      modelHost: modelHost({
        ...init,
        observer: {
          onStart: (info) => dispatch('request:start', info),
          onEnd: (info, result) => dispatch('request:end', { ...info, ...result }),
          onError: (info, error, peerId) => dispatch('request:error', { ...info, peerId, error }),
        },
      }),
    },
  })
  host = new DefaultModelHost(libp2p)
  return host
}
