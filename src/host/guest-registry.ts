/**
 * Who the host is serving: admits guest peers up to `maxConnections`, tracks each one's
 * connections and requests, and enforces blocks, allow-lists and the per-peer request limit.
 *
 * A guest is a peer with an inbound connection. Peers the host dialled itself (its signalling
 * hub) never count.
 */
import type { Connection } from '@libp2p/interface'
import { type ConnectionKind, connectionKind } from '../codec/connection-kind.ts'
import { TooManyRequestsError } from '../codec/errors.ts'

export interface GuestConnection {
  peerId: string
  /** The address of the guest's best current connection. */
  remoteAddr: string
  kind: ConnectionKind
  /** When the guest was admitted (ms since the epoch). */
  since: number
  activeRequests: number
  totalRequests: number
}

export type Admission =
  | 'admitted'
  | 'known'
  | 'over-limit'
  | 'blocked'
  | 'not-allowed'
  | 'not-a-guest'

export interface GuestRegistryInit {
  maxConnections: number
  maxRequestsPerPeer: number
  /** When set, only these peers may use the host. */
  allowPeers?: Iterable<string>
}

interface Guest extends GuestConnection {
  connections: Set<Connection>
}

const kindRank: Record<ConnectionKind, number> = { relayed: 0, webrtc: 1, direct: 2 }

export class GuestRegistry {
  private readonly init: GuestRegistryInit
  private readonly guests = new Map<string, Guest>()
  /** Peers refused until the given time (ms since the epoch; Infinity: until unblocked). */
  private readonly blockedUntil = new Map<string, number>()
  private readonly allowed?: Set<string>

  constructor(init: GuestRegistryInit) {
    this.init = init
    if (init.allowPeers != null) this.allowed = new Set(init.allowPeers)
  }

  /**
   * Decides about a new connection and records it if its peer is (or becomes) a guest.
   * `anyDirection`: count it even if the host dialled it (the peer sent a request).
   */
  admit(connection: Connection, anyDirection = false): Admission {
    const peerId = connection.remotePeer.toString()
    if (this.isBlocked(peerId)) return 'blocked'
    if (this.allowed != null && !this.allowed.has(peerId)) return 'not-allowed'
    const guest = this.guests.get(peerId)
    if (guest != null) {
      guest.connections.add(connection)
      this.refreshBest(guest)
      return 'known'
    }
    if (!anyDirection && connection.direction !== 'inbound') return 'not-a-guest'
    if (this.guests.size >= this.init.maxConnections) return 'over-limit'
    const kind = connectionKind(connection)
    this.guests.set(peerId, {
      peerId,
      remoteAddr: connection.remoteAddr.toString(),
      kind,
      since: Date.now(),
      activeRequests: 0,
      totalRequests: 0,
      connections: new Set([connection]),
    })
    return 'admitted'
  }

  /** Records a closed connection; true when that was the guest's last one (it left). */
  release(connection: Connection): boolean {
    const peerId = connection.remotePeer.toString()
    const guest = this.guests.get(peerId)
    if (guest == null || !guest.connections.delete(connection)) return false
    if (guest.connections.size > 0) {
      this.refreshBest(guest)
      return false
    }
    this.guests.delete(peerId)
    return true
  }

  get(peerId: string): GuestConnection | undefined {
    const guest = this.guests.get(peerId)
    if (guest == null) return undefined
    const { connections: _connections, ...rest } = guest
    return { ...rest }
  }

  /** Counts a request against the peer's limit; call the returned function when it ends. */
  startRequest(peerId: string, connection?: Connection): () => void {
    const guest = this.guests.get(peerId)
    if (guest == null) return () => {}
    // The connection that carries requests is the one that counts: a WebRTC connection that
    // never came up can linger beside the relayed one a guest fell back to.
    if (connection != null) {
      guest.remoteAddr = connection.remoteAddr.toString()
      guest.kind = connectionKind(connection)
    }
    if (guest.activeRequests >= this.init.maxRequestsPerPeer) {
      throw new TooManyRequestsError(
        `At most ${this.init.maxRequestsPerPeer} requests at once per guest`,
      )
    }
    guest.activeRequests++
    guest.totalRequests++
    let ended = false
    return () => {
      if (ended) return
      ended = true
      guest.activeRequests--
    }
  }

  /** Refuses a peer for `duration` ms (Infinity: until `unblock`); returns whether it was a guest. */
  block(peerId: string, duration = Number.POSITIVE_INFINITY): boolean {
    this.blockedUntil.set(peerId, Date.now() + duration)
    return this.guests.delete(peerId)
  }

  unblock(peerId: string): void {
    this.blockedUntil.delete(peerId)
  }

  isBlocked(peerId: string): boolean {
    const until = this.blockedUntil.get(peerId)
    if (until == null) return false
    if (until > Date.now()) return true
    this.blockedUntil.delete(peerId)
    return false
  }

  /** Lets a peer use the host even with an allow-list, or again after a block. */
  allow(peerId: string): void {
    this.blockedUntil.delete(peerId)
    this.allowed?.add(peerId)
  }

  get size(): number {
    return this.guests.size
  }

  list(): GuestConnection[] {
    return [...this.guests.keys()].map((peerId) => this.get(peerId) as GuestConnection)
  }

  /** The guest's address and kind follow its best open connection (direct > webrtc > relayed). */
  private refreshBest(guest: Guest): void {
    let best: Connection | undefined
    for (const connection of guest.connections) {
      if (best == null || kindRank[connectionKind(connection)] > kindRank[connectionKind(best)])
        best = connection
    }
    if (best == null) return
    guest.remoteAddr = best.remoteAddr.toString()
    guest.kind = connectionKind(best)
  }
}
