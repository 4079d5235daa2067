/**
 * The host as a libp2p service: `modelHost(init)` plugs into `createLibp2p({ services })`, so an
 * app that already runs a libp2p node can share a model on it. `createModelHost()` is built on it.
 */
import type {
  ComponentLogger,
  Connection,
  Libp2pEvents,
  Logger,
  Startable,
  Stream,
  TypedEventTarget,
} from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { peerIdFromString } from '@libp2p/peer-id'
import { TypedEventEmitter } from 'main-event'
import type { ModelBackend } from '../codec/backend.ts'
import { DEFAULT_MAX_FRAME_SIZE, PROTOCOL } from '../codec/constants.ts'
import { AuthGuard } from './auth-guard.ts'
import * as defaults from './constants.ts'
import type { ModelHostEvents } from './events.ts'
import { FairQueue } from './fair-queue.ts'
import { type GuestConnection, GuestRegistry } from './guest-registry.ts'
import { RequestHandler } from './request-handler.ts'

export interface ModelHostServiceInit {
  /** The model to share. */
  backend: ModelBackend
  /** When set, every request must carry this key in its `apiKey` field (else `UNAUTHORIZED`). */
  apiKey?: string
  /**
   * Guest peers served at once. Another guest's requests get `TOO_MANY_CONNECTIONS` and its
   * connection is closed; guests already in are unaffected. The signalling hub never counts.
   *
   * @default 10
   */
  maxConnections?: number
  /**
   * Requests one guest may have in flight, queued or running (beyond: `TOO_MANY_REQUESTS`).
   *
   * @default 4
   */
  maxRequestsPerPeer?: number
  /**
   * Requests the backend runs at once; the rest wait in a queue served round-robin across
   * guests. Set it to llama-server's `--parallel` to use every slot.
   *
   * @default 1
   */
  maxConcurrentRequests?: number
  /**
   * Requests waiting for the backend, over all guests (beyond: `TOO_MANY_REQUESTS`).
   *
   * @default 64
   */
  maxQueuedRequests?: number
  /**
   * Largest frame accepted from a guest, in bytes (bigger: `FRAME_TOO_LARGE`). Bounds the
   * prompt or chat history too.
   *
   * @default 1_048_576
   */
  maxFrameSize?: number
  /**
   * How long a new stream may take to send its request, in ms (then `TIMEOUT`).
   *
   * @default 10_000
   */
  requestReadTimeout?: number
  /**
   * Longest a request may run, queue time included, in ms (then `TIMEOUT`; the backend call
   * is aborted).
   *
   * @default 600_000
   */
  requestTimeout?: number
  /**
   * Wrong API keys in a row from one peer before it is disconnected and refused for
   * `authBlockDuration`. Each wrong key is answered more slowly than the last.
   *
   * @default 5
   */
  maxAuthFailures?: number
  /**
   * How long a peer that used up its API-key attempts is refused, in ms.
   *
   * @default 60_000
   */
  authBlockDuration?: number
  /**
   * Delay before answering the first wrong API key, in ms; doubles with each further one,
   * up to 5 s.
   *
   * @default 250
   */
  authFailureDelay?: number
  /** When set, only these peer ids may use the host (others are disconnected). */
  allowPeers?: string[]
  /** Peer ids refused from the start. */
  blockPeers?: string[]
  /**
   * How long a guest turned away by `maxConnections` keeps its connection, in ms, so its
   * first request is answered `TOO_MANY_CONNECTIONS`.
   *
   * @default 3_000
   */
  refusedGracePeriod?: number
  /**
   * Include the prompt (or last chat message) in `request:start` events. Off by default:
   * prompts are the guests' business.
   *
   * @default false
   */
  logPrompts?: boolean
  /**
   * `/llama/1.0.0` streams one connection may have open at once; libp2p resets any beyond.
   *
   * @default 64
   */
  maxInboundStreams?: number
}

export interface ModelHostComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/** Figures about the host since it started. */
export interface HostStats {
  /** When the host started (ms since the epoch). */
  startedAt: number
  /** Guests connected now. */
  guests: number
  /** Requests being generated now. */
  activeRequests: number
  /** Requests waiting for the backend now. */
  queuedRequests: number
  /** Requests received (those that passed validation and the key check). */
  totalRequests: number
  completedRequests: number
  /** Failed requests, including ones refused before they started. */
  failedRequests: number
  /** Failures by wire code. */
  errors: Record<string, number>
  /** Tokens generated, where the backend reports them. */
  tokensGenerated: number
  /** Guests refused (over the limit, blocked, not allowed). */
  rejectedPeers: number
}

export interface BlockOptions {
  /** How long to refuse the peer, in ms. @default forever (until `unblock`) */
  duration?: number
}

/** The service `modelHost()` adds to a libp2p node. */
export interface ModelHostService extends TypedEventTarget<ModelHostEvents>, Startable {
  readonly protocol: string
  /** The guests connected now, with their connection kind and request counts. */
  connections(): GuestConnection[]
  stats(): HostStats
  /** Closes every connection to a peer (it may come back; see `block`). */
  disconnect(peerId: string): Promise<void>
  /** Disconnects a peer and refuses it from now on (or for `duration` ms). */
  block(peerId: string, options?: BlockOptions): Promise<void>
  /** Lets a blocked peer back in. */
  unblock(peerId: string): void
  /** Whether a peer is refused now. */
  isBlocked(peerId: string): boolean
}

class DefaultModelHostService
  extends TypedEventEmitter<ModelHostEvents>
  implements ModelHostService
{
  readonly protocol = PROTOCOL
  readonly [Symbol.toStringTag] = '@p2p-llm/model-host'
  private readonly components: ModelHostComponents
  private readonly init: ModelHostServiceInit
  private readonly log: Logger
  private readonly guests: GuestRegistry
  private readonly queue: FairQueue
  private readonly guard: AuthGuard
  private readonly handler: RequestHandler
  /** Connections turned away by `maxConnections`, closed after the grace period. */
  private readonly refused = new Map<Connection, ReturnType<typeof setTimeout>>()
  private readonly counters = {
    startedAt: Date.now(),
    totalRequests: 0,
    completedRequests: 0,
    failedRequests: 0,
    tokensGenerated: 0,
    rejectedPeers: 0,
    errors: {} as Record<string, number>,
  }

  constructor(components: ModelHostComponents, init: ModelHostServiceInit) {
    super()
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('p2p-llm:host')
    this.guests = new GuestRegistry({
      maxConnections: init.maxConnections ?? defaults.DEFAULT_MAX_CONNECTIONS,
      maxRequestsPerPeer: init.maxRequestsPerPeer ?? defaults.DEFAULT_MAX_REQUESTS_PER_PEER,
      allowPeers: init.allowPeers,
    })
    for (const peerId of init.blockPeers ?? []) this.guests.block(peerId)
    this.queue = new FairQueue({
      concurrency: init.maxConcurrentRequests ?? defaults.DEFAULT_MAX_CONCURRENT_REQUESTS,
      maxQueued: init.maxQueuedRequests ?? defaults.DEFAULT_MAX_QUEUED_REQUESTS,
    })
    this.guard = new AuthGuard({
      apiKey: init.apiKey,
      maxAuthFailures: init.maxAuthFailures ?? defaults.DEFAULT_MAX_AUTH_FAILURES,
      authBlockDuration: init.authBlockDuration ?? defaults.DEFAULT_AUTH_BLOCK_DURATION,
      authFailureDelay: init.authFailureDelay ?? defaults.DEFAULT_AUTH_FAILURE_DELAY,
      onBlock: (peerId, duration) => {
        this.log('blocking %s for %d ms after repeated wrong API keys', peerId, duration)
        // Only mark it: the handler disconnects the peer once its UNAUTHORIZED is written.
        this.guests.block(peerId, duration)
      },
    })
    this.handler = new RequestHandler({
      backend: init.backend,
      guard: this.guard,
      guests: this.guests,
      queue: this.queue,
      maxFrameSize: init.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      requestReadTimeout: init.requestReadTimeout ?? defaults.DEFAULT_REQUEST_READ_TIMEOUT,
      requestTimeout: init.requestTimeout ?? defaults.DEFAULT_REQUEST_TIMEOUT,
      logPrompts: init.logPrompts ?? false,
      log: this.log,
      isRefused: (connection) => this.refused.has(connection) || this.admit(connection) === false,
      onRefusedRequest: (connection) => this.closeRefused(connection),
      onStart: (event) => {
        this.counters.totalRequests++
        this.safeDispatchEvent('request:start', { detail: event })
      },
      onEnd: (event) => {
        this.counters.completedRequests++
        this.counters.tokensGenerated += event.tokens ?? 0
        this.safeDispatchEvent('request:end', { detail: event })
      },
      onError: (event) => {
        this.counters.failedRequests++
        this.counters.errors[event.error.code] = (this.counters.errors[event.error.code] ?? 0) + 1
        this.safeDispatchEvent('request:error', { detail: event })
      },
    })
  }

  private readonly onConnectionOpen = (event: CustomEvent<Connection>): void => {
    this.admit(event.detail, false)
  }

  private readonly onConnectionClose = (event: CustomEvent<Connection>): void => {
    const connection = event.detail
    const timer = this.refused.get(connection)
    if (timer != null) {
      clearTimeout(timer)
      this.refused.delete(connection)
    }
    if (this.guests.release(connection)) {
      this.safeDispatchEvent('peer:disconnect', {
        detail: { peerId: connection.remotePeer.toString() },
      })
    }
  }

  /**
   * Runs admission for a connection (idempotent). Returns false when it was turned away.
   * `serving`: the peer opened a request stream, so it is a guest even on a connection the
   * host dialled.
   */
  private admit(connection: Connection, serving = true): boolean {
    const admission = this.guests.admit(connection, serving)
    const peerId = connection.remotePeer.toString()
    switch (admission) {
      case 'admitted': {
        const guest = this.guests.get(peerId)
        this.log('guest %s connected from %s', peerId, connection.remoteAddr)
        this.safeDispatchEvent('peer:connect', {
          detail: {
            peerId,
            remoteAddr: connection.remoteAddr.toString(),
            kind: guest?.kind ?? 'direct',
          },
        })
        return true
      }
      case 'known':
      case 'not-a-guest':
        return true
      case 'over-limit':
      case 'blocked':
      case 'not-allowed':
        this.reject(connection, admission)
        return false
    }
  }

  private reject(connection: Connection, reason: 'over-limit' | 'blocked' | 'not-allowed'): void {
    if (this.refused.has(connection)) return
    this.counters.rejectedPeers++
    const peerId = connection.remotePeer.toString()
    this.log('refusing %s: %s', peerId, reason)
    this.safeDispatchEvent('peer:reject', {
      detail: { peerId, remoteAddr: connection.remoteAddr.toString(), reason },
    })
    if (reason !== 'over-limit') {
      connection.abort(new Error(`Peer refused: ${reason}`))
      return
    }
    const grace = this.init.refusedGracePeriod ?? defaults.DEFAULT_REFUSED_GRACE_PERIOD
    this.refused.set(
      connection,
      setTimeout(() => this.closeRefused(connection), grace),
    )
  }

  private closeRefused(connection: Connection): void {
    clearTimeout(this.refused.get(connection))
    // Closing gracefully lets the error frame just written reach the guest first.
    void connection.close().catch((err: Error) => connection.abort(err))
  }

  async start(): Promise<void> {
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    await this.components.registrar.handle(
      PROTOCOL,
      (stream: Stream, connection: Connection) => this.handler.handle(stream, connection),
      {
        maxInboundStreams: this.init.maxInboundStreams ?? defaults.DEFAULT_MAX_INBOUND_STREAMS,
        // Guests that reach the host only through a relay (no WebRTC) are still served.
        runOnLimitedConnection: true,
      },
    )
  }

  async stop(): Promise<void> {
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    await this.components.registrar.unhandle(PROTOCOL)
    this.handler.abortAll()
    for (const timer of this.refused.values()) clearTimeout(timer)
    this.refused.clear()
  }

  connections(): GuestConnection[] {
    return this.guests.list()
  }

  stats(): HostStats {
    const { errors, ...counters } = this.counters
    return {
      ...counters,
      errors: { ...errors },
      guests: this.guests.size,
      activeRequests: this.queue.active,
      queuedRequests: this.queue.size,
    }
  }

  async disconnect(peerId: string): Promise<void> {
    await this.components.connectionManager.closeConnections(peerIdFromString(peerId))
  }

  async block(peerId: string, options: BlockOptions = {}): Promise<void> {
    this.guests.block(peerId, options.duration)
    this.log('blocked %s', peerId)
    await this.disconnect(peerId)
  }

  unblock(peerId: string): void {
    this.guests.unblock(peerId)
  }

  isBlocked(peerId: string): boolean {
    return this.guests.isBlocked(peerId)
  }
}

/**
 * A libp2p service that answers `/llama/1.0.0` requests from `init.backend`.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({
 *   // …your transports, encrypters, muxers…
 *   services: { modelHost: modelHost({ backend: llamaCpp({ url: 'http://127.0.0.1:8080' }) }) },
 * })
 * node.services.modelHost.addEventListener('request:end', ({ detail }) => console.log(detail))
 * ```
 */
export function modelHost(
  init: ModelHostServiceInit,
): (components: ModelHostComponents) => ModelHostService {
  return (components) => new DefaultModelHostService(components, init)
}
