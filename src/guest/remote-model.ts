/**
 * A connected model: `complete()`, `stream()` and `info()` each run one `/llama/1.0.0` stream.
 */
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { ModelInfo } from '../codec/backend.ts'
import { type ConnectionKind, connectionKind } from '../codec/connection-kind.ts'
import { PROTOCOL } from '../codec/constants.ts'
import {
  AbortError,
  ConnectionError,
  errorFromCode,
  isP2PLLMError,
  type P2PLLMError,
  ProtocolError,
  TimeoutError,
} from '../codec/errors.ts'
import { frameStream } from '../codec/frames.ts'
import {
  type ChatMessage,
  type CompletionRequest,
  parseResponseFrame,
  type ResponseData,
} from '../codec/schemas.ts'

/** What a caller may ask for: the wire request without the fields the SDK fills in. */
export type CompletionParams = Omit<CompletionRequest, 'stream' | 'apiKey' | 'type'>

/** A chat request: `messages` instead of `prompt`. */
export type ChatParams = Omit<CompletionParams, 'prompt' | 'messages'> & { messages: ChatMessage[] }

/** One streamed piece (`stop: true` on the last), with any fields the backend added. */
export type CompletionChunk = ResponseData

/** A whole reply: `content` is all of it; `stop` is `true`. */
export type CompletionResult = ResponseData

export interface CallOptions {
  /** Cancels the call; the host aborts the backend's generation. */
  signal?: AbortSignal
}

export interface RemoteModel {
  /** The host's peer id. */
  readonly peerId: string
  /** This guest's own peer id: what the host sees (and may put on its allow-list). */
  readonly localPeerId: string
  /** How the guest reaches the host now: `direct`, `webrtc` or `relayed`, and the address. */
  readonly connection: { kind: ConnectionKind; remoteAddr: string }
  /** Generates a whole reply. */
  complete(request: CompletionParams, options?: CallOptions): Promise<CompletionResult>
  /**
   * Generates a reply piece by piece. Iterate it once; leaving the loop early (`break`,
   * an exception, the signal) cancels the generation on the host.
   */
  stream(request: CompletionParams, options?: CallOptions): AsyncIterable<CompletionChunk>
  /** Answers a chat history with one whole reply (`content` is the assistant's message). */
  chat(request: ChatParams, options?: CallOptions): Promise<CompletionResult>
  /** Answers a chat history piece by piece, like {@link RemoteModel.stream}. */
  chatStream(request: ChatParams, options?: CallOptions): AsyncIterable<CompletionChunk>
  /** Describes the host's model: at least `{ model }`. */
  info(options?: CallOptions): Promise<ModelInfo>
  /** Closes the connection (and the guest's own libp2p node, unless it was passed in). */
  close(): Promise<void>
}

export interface RemoteModelInit {
  libp2p: Libp2p
  /** Whether `close()` stops `libp2p` (true when the SDK created it). */
  ownsNode: boolean
  peerId: string
  connection: Connection
  /** Reaches the host again on a new connection (the old one is gone). */
  reconnect(signal?: AbortSignal): Promise<Connection>
  apiKey?: string
  maxFrameSize?: number
  /** Open the next request's stream while idle (see {@link SPARE_STREAM_MAX_AGE}). */
  preopenStreams?: boolean
}

/**
 * How long a stream opened ahead of the next request stays ready, in ms. Opening a stream
 * (muxer, protocol negotiation, peer-store bookkeeping) is most of what p2p adds to a request;
 * doing it after one request ends takes it off the next one's path when requests follow each
 * other. Kept far below hosts' `requestReadTimeout` (10 s), after which they would answer it.
 */
export const SPARE_STREAM_MAX_AGE = 2_000

export class DefaultRemoteModel implements RemoteModel {
  readonly peerId: string
  readonly localPeerId: string
  private readonly init: RemoteModelInit
  private current: Connection
  private closed = false
  /** A stream opened ahead of the next request, and its expiry timer. */
  private spare?: { stream: Promise<Stream | undefined>; timer: ReturnType<typeof setTimeout> }

  constructor(init: RemoteModelInit) {
    this.init = init
    this.peerId = init.peerId
    this.localPeerId = init.libp2p.peerId.toString()
    this.current = init.connection
  }

  async complete(request: CompletionParams, options: CallOptions = {}): Promise<CompletionResult> {
    for await (const data of this.exchange({ ...request, stream: false }, options.signal)) {
      if (data.stop) return data
    }
    throw new ProtocolError('Host ended the reply without a final frame')
  }

  stream(request: CompletionParams, options: CallOptions = {}): AsyncIterable<CompletionChunk> {
    return this.exchange({ ...request, stream: true }, options.signal)
  }

  chat(request: ChatParams, options: CallOptions = {}): Promise<CompletionResult> {
    return this.complete(request, options)
  }

  chatStream(request: ChatParams, options: CallOptions = {}): AsyncIterable<CompletionChunk> {
    return this.stream(request, options)
  }

  async info(options: CallOptions = {}): Promise<ModelInfo> {
    for await (const data of this.exchange({ type: 'info' }, options.signal)) {
      const { content: _content, stop: _stop, ...info } = data
      if (typeof info.model !== 'string')
        throw new ProtocolError('Host sent model info without a model name')
      return info as ModelInfo
    }
    throw new ProtocolError('Host ended the reply without model info')
  }

  get connection(): { kind: ConnectionKind; remoteAddr: string } {
    return { kind: connectionKind(this.current), remoteAddr: this.current.remoteAddr.toString() }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.dropSpare()
    if (this.init.ownsNode) await this.init.libp2p.stop()
    else await this.current.close().catch(() => {})
  }

  /** Sends one request on a new stream and yields each success frame's data until `stop`. */
  private async *exchange(
    payload: Record<string, unknown>,
    signal?: AbortSignal,
  ): AsyncGenerator<ResponseData> {
    if (this.closed) throw new ConnectionError('This model connection is closed')
    signal?.throwIfAborted()
    let stream: Stream | undefined
    let finished = false
    const onAbort = (): void => stream?.abort(new AbortError('Cancelled by the guest'))
    signal?.addEventListener('abort', onAbort)
    try {
      stream = await this.takeStream(signal)
      const frames = frameStream(stream, { maxFrameSize: this.init.maxFrameSize })
      const apiKey = this.init.apiKey
      await frames.write(apiKey != null ? { ...payload, apiKey } : payload, { signal })
      // Half-close: the request is all we send. The host closes its side after the last frame.
      stream.close().catch(() => {})
      while (true) {
        const raw = await frames.read({ signal })
        if (raw === undefined)
          throw new ProtocolError('Host closed the stream before its final frame')
        const frame = parseResponseFrame(raw)
        if (!frame.success) {
          finished = true
          throw errorFromCode(frame.code, frame.error)
        }
        if (frame.data.stop) finished = true
        yield frame.data
        if (finished) return
      }
    } catch (err) {
      throw toGuestError(err, signal)
    } finally {
      signal?.removeEventListener('abort', onAbort)
      // Not finished means the caller left early or something broke: reset the stream so the
      // host stops generating at once.
      if (!finished) stream?.abort(new AbortError('Cancelled by the guest'))
      else this.prepareSpare()
    }
  }

  /** The spare stream if it is still fresh and untouched, else a new one. */
  private async takeStream(signal?: AbortSignal): Promise<Stream> {
    const spare = this.spare
    if (spare != null) {
      clearTimeout(spare.timer)
      this.spare = undefined
      const stream = await spare.stream
      if (stream != null && isUnused(stream)) return stream
      stream?.abort(new AbortError('Spare stream no longer usable'))
    }
    return this.openStream(signal)
  }

  /** Opens the next request's stream now, while nothing waits on it. */
  private prepareSpare(): void {
    if (this.closed || this.init.preopenStreams === false || this.spare != null) return
    if (this.current.status !== 'open') return
    const stream = this.openStream().catch(() => undefined)
    const timer = setTimeout(() => this.dropSpare(), SPARE_STREAM_MAX_AGE)
    // Never keep a process alive just for a spare.
    ;(timer as { unref?: () => void }).unref?.()
    this.spare = { stream, timer }
  }

  private dropSpare(): void {
    const spare = this.spare
    if (spare == null) return
    this.spare = undefined
    clearTimeout(spare.timer)
    void spare.stream.then((stream) => stream?.abort(new AbortError('Spare stream expired')))
  }

  /**
   * Opens a request stream, redialling once if the connection turns out to be gone (the host
   * restarted or dropped it): nothing was sent yet, so trying again is safe.
   */
  private async openStream(signal?: AbortSignal): Promise<Stream> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (this.current.status !== 'open' || attempt > 1)
          this.current = await this.init.reconnect(signal)
        return await this.current.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
      } catch (err) {
        if (signal?.aborted === true) throw err
        if (attempt < 2) continue
        throw new ConnectionError(
          `Could not open a request stream to ${this.peerId}: ${(err as Error).message}`,
          {
            cause: err,
          },
        )
      }
    }
  }
}

/** A stream nobody has written to and the host has not answered or closed. */
function isUnused(stream: Stream): boolean {
  return (
    stream.status === 'open' &&
    stream.writeStatus === 'writable' &&
    stream.remoteWriteStatus === 'writable' &&
    stream.readBufferLength === 0
  )
}

/** Maps anything thrown during an exchange to this package's errors. */
export function toGuestError(err: unknown, signal?: AbortSignal): P2PLLMError {
  if (signal?.aborted === true) {
    const reason = signal.reason as Error | undefined
    return reason?.name === 'TimeoutError'
      ? new TimeoutError(reason.message || 'Timed out', { cause: reason })
      : new AbortError('Aborted', { cause: reason ?? err })
  }
  if (isP2PLLMError(err)) return err
  const name = (err as Error)?.name
  if (name === 'StreamResetError' || name === 'StreamAbortedError') {
    return new ConnectionError(`Host reset the stream: ${(err as Error).message}`, { cause: err })
  }
  return new ConnectionError((err as Error)?.message ?? String(err), { cause: err })
}
