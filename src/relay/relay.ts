/**
 * `createRelay()`: a signalling hub. Hosts behind NAT reserve a slot on it; guests reach them
 * through it, exchange WebRTC offers over the relayed connection and then talk directly — or,
 * when WebRTC cannot get through, keep using the relayed connection within its limits.
 */
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { loadOrCreateIdentity } from '../identity/index.ts'
import { type RelayLimits, relayService } from './relay-service.ts'

export interface RelayTlsOptions {
  /** PEM certificate (chain) for secure WebSockets. */
  cert: string | Buffer
  /** PEM private key of `cert`. */
  key: string | Buffer
}

export interface RelayInit extends RelayLimits {
  /**
   * Multiaddrs to listen on. Guests and hosts reach the hub over WebSockets; TCP serves Node
   * peers that prefer it.
   *
   * @default ['/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/tcp/0'] (loopback, free ports)
   */
  listen?: string[]
  /** Addresses to announce instead of the listen addresses (a public IP or DNS name). */
  announce?: string[]
  /** Serve secure WebSockets (`wss`) with this certificate: what browsers on https pages need. */
  tls?: RelayTlsOptions
  /** Path of a private-key file (created on first use, mode 0600): a stable peer id. */
  identity?: string
  /** The relay's identity, when not read from `identity`. */
  privateKey?: PrivateKey
}

export interface Relay {
  readonly peerId: string
  /** Every address the relay listens on (or announces), each ending in `/p2p/<peerId>`. */
  readonly multiaddrs: string[]
  /**
   * `host:port` of the first WebSocket address: what hosts pass as `signalling` and what
   * their share URLs name.
   */
  readonly address: string
  readonly libp2p: Libp2p
  stop(): Promise<void>
}

export const DEFAULT_RELAY_LISTEN = ['/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/tcp/0']

/**
 * Starts a signalling hub.
 *
 * @example
 * ```ts
 * import { createRelay, createModelHost, llamaCpp } from 'p2p-llm'
 *
 * const relay = await createRelay({ listen: ['/ip4/0.0.0.0/tcp/4001/ws'], announce: ['/dns/hub.example.com/tcp/4001/ws'] })
 * const host = await createModelHost({ backend: llamaCpp(), signalling: relay.address })
 * ```
 */
export async function createRelay(init: RelayInit = {}): Promise<Relay> {
  const privateKey =
    init.privateKey ??
    (init.identity != null ? await loadOrCreateIdentity(init.identity) : undefined)
  const libp2p = await createLibp2p({
    privateKey,
    addresses: { listen: init.listen ?? DEFAULT_RELAY_LISTEN, announce: init.announce },
    transports: [
      webSockets(init.tls != null ? { https: { cert: init.tls.cert, key: init.tls.key } } : {}),
      tcp(),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      // Every host and guest passes through here, many from one NAT.
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 100,
      maxConnections: 1024,
    },
    services: {
      identify: identify(),
      relay: relayService(init),
    },
  })
  const multiaddrs = () => libp2p.getMultiaddrs().map((ma) => ma.toString())
  return {
    libp2p,
    get peerId() {
      return libp2p.peerId.toString()
    },
    get multiaddrs() {
      return multiaddrs()
    },
    get address() {
      for (const ma of libp2p.getMultiaddrs()) {
        const parts = ma.getComponents()
        const names = parts.map((part) => part.name)
        if (names.includes('ws') || names.includes('wss')) {
          const host = parts[0]?.value ?? ''
          const port = parts[1]?.value ?? ''
          return `${host.includes(':') ? `[${host}]` : host}:${port}`
        }
      }
      throw new Error('This relay has no WebSocket listener')
    },
    async stop() {
      await libp2p.stop()
    },
  }
}
