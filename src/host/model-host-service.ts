/**
 * The host as a libp2p service: `modelHost(init)` plugs into `createLibp2p({ services })`, so an
 * app that already runs a libp2p node can share a model on it. `createModelHost()` is built on it.
 */
import type { ComponentLogger, Connection, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import type { ModelBackend } from '../codec/backend.ts'
import { DEFAULT_MAX_FRAME_SIZE, PROTOCOL } from '../codec/constants.ts'
import {
  DEFAULT_MAX_INBOUND_STREAMS,
  DEFAULT_REQUEST_READ_TIMEOUT,
  DEFAULT_REQUEST_TIMEOUT,
} from './constants.ts'
import { RequestHandler, type RequestObserver } from './request-handler.ts'

export interface ModelHostServiceInit {
  /** The model to share. */
  backend: ModelBackend
  /** When set, every request must carry this key in its `apiKey` field (else `UNAUTHORIZED`). */
  apiKey?: string
  /**
   * Largest frame accepted from a guest, in bytes (bigger: `FRAME_TOO_LARGE`).
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
   * Longest a request may run, in ms (then `TIMEOUT` and the backend call is aborted).
   *
   * @default 600_000
   */
  requestTimeout?: number
  /**
   * `/llama/1.0.0` streams one connection may have open at once; libp2p resets any beyond.
   *
   * @default 64
   */
  maxInboundStreams?: number
  /** Receives each request's start, end and failure. */
  observer?: RequestObserver
}

export interface ModelHostComponents {
  registrar: Registrar
  logger: ComponentLogger
}

/** The service `modelHost()` adds to a libp2p node. */
export interface ModelHostService extends Startable {
  readonly protocol: string
}

class DefaultModelHostService implements ModelHostService {
  readonly protocol = PROTOCOL
  readonly [Symbol.toStringTag] = '@p2p-llm/model-host'
  private readonly components: ModelHostComponents
  private readonly init: ModelHostServiceInit
  private handler?: RequestHandler

  constructor(components: ModelHostComponents, init: ModelHostServiceInit) {
    this.components = components
    this.init = init
  }

  async start(): Promise<void> {
    const handler = new RequestHandler({
      backend: this.init.backend,
      apiKey: this.init.apiKey,
      maxFrameSize: this.init.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      requestReadTimeout: this.init.requestReadTimeout ?? DEFAULT_REQUEST_READ_TIMEOUT,
      requestTimeout: this.init.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT,
      log: this.components.logger.forComponent('p2p-llm:host'),
      observer: this.init.observer,
    })
    this.handler = handler
    await this.components.registrar.handle(
      PROTOCOL,
      (stream: Stream, connection: Connection) => handler.handle(stream, connection),
      {
        maxInboundStreams: this.init.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS,
        // Guests that reach the host only through a relay (no WebRTC) are still served.
        runOnLimitedConnection: true,
      },
    )
  }

  async stop(): Promise<void> {
    await this.components.registrar.unhandle(PROTOCOL)
    this.handler?.abortAll()
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
 * ```
 */
export function modelHost(
  init: ModelHostServiceInit,
): (components: ModelHostComponents) => ModelHostService {
  return (components) => new DefaultModelHostService(components, init)
}
