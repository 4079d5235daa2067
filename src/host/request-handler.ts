/**
 * Serves one `/llama/1.0.0` stream: read one request frame, validate it, run the backend, write
 * the reply frames, close. Every failure becomes an error frame on this stream alone.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Connection, Logger, Stream } from '@libp2p/interface'
import type { GenerateChunk, GenerateRequest, ModelBackend } from '../codec/backend.ts'
import {
  AbortError,
  BackendError,
  ErrorCode,
  InvalidRequestError,
  isP2PLLMError,
  P2PLLMError,
  ProtocolError,
  TimeoutError,
  UnauthorizedError,
} from '../codec/errors.ts'
import { type FrameStream, frameStream } from '../codec/frames.ts'
import { type CompletionRequest, parseRequest, type Request } from '../codec/schemas.ts'

export interface RequestHandlerInit {
  backend: ModelBackend
  apiKey?: string
  maxFrameSize: number
  requestReadTimeout: number
  requestTimeout: number
  log: Logger
  /** Told about each request's life (events, stats). */
  observer?: RequestObserver
}

export interface RequestInfo {
  /** Sequence number of this request on this host. */
  id: number
  peerId: string
  stream: boolean
  /** `completion`, `chat` or `info`. */
  kind: 'completion' | 'chat' | 'info'
}

export interface RequestResult {
  /** Pieces generated (backend chunks with content). */
  chunks: number
  /** Tokens generated, where the backend reported them. */
  tokens?: number
  /** From the start of the request to its first piece, in ms. */
  timeToFirstToken?: number
  duration: number
}

export interface RequestObserver {
  onStart?(info: RequestInfo): void
  onEnd?(info: RequestInfo, result: RequestResult): void
  onError?(info: RequestInfo | undefined, error: P2PLLMError, peerId: string): void
}

export class RequestHandler {
  private readonly init: RequestHandlerInit
  private readonly apiKeyDigest?: Buffer
  private nextId = 1
  /** Aborts every request in flight when the host stops. */
  private readonly shutdown = new AbortController()

  constructor(init: RequestHandlerInit) {
    this.init = init
    if (init.apiKey != null && init.apiKey !== '') this.apiKeyDigest = digest(init.apiKey)
  }

  /** Ends every request in flight (host stopping). */
  abortAll(): void {
    this.shutdown.abort(new AbortError('Host is stopping'))
  }

  async handle(stream: Stream, connection: Connection): Promise<void> {
    const { log } = this.init
    const peerId = connection.remotePeer.toString()
    const frames = frameStream(stream, { maxFrameSize: this.init.maxFrameSize })
    let info: RequestInfo | undefined
    // Aborted when the guest resets its stream or the connection drops, the host stops, or the
    // request times out: whichever comes first ends the backend call.
    const controller = new AbortController()
    const onClose = (): void => controller.abort(new AbortError('Guest closed the stream'))
    stream.addEventListener('close', onClose)
    const onShutdown = (): void => controller.abort(this.shutdown.signal.reason)
    this.shutdown.signal.addEventListener('abort', onShutdown)

    try {
      const request = await this.readRequest(frames)
      if (request == null) return // the guest opened a stream and closed it without asking
      this.authorize(request)
      info = {
        id: this.nextId++,
        peerId,
        stream: request.type !== 'info' && request.stream === true,
        kind: request.type === 'info' ? 'info' : request.messages != null ? 'chat' : 'completion',
      }
      const timeout = setTimeout(
        () => controller.abort(new TimeoutError(`Request exceeded ${this.init.requestTimeout} ms`)),
        this.init.requestTimeout,
      )
      try {
        this.init.observer?.onStart?.(info)
        const result =
          request.type === 'info'
            ? await this.serveInfo(frames, controller.signal)
            : await this.serveCompletion(request, frames, controller.signal)
        this.init.observer?.onEnd?.(info, result)
      } finally {
        clearTimeout(timeout)
      }
      await stream.close({ signal: AbortSignal.timeout(this.init.requestReadTimeout) })
    } catch (thrown) {
      const error = toWireError(controller.signal.aborted ? controller.signal.reason : thrown)
      this.init.observer?.onError?.(info, error, peerId)
      if (stream.status !== 'open' || stream.writeStatus !== 'writable') {
        log('request %s from %p ended: %s', info?.id ?? '-', connection.remotePeer, error.message)
        stream.abort(error)
        return
      }
      log(
        'request %s from %p failed: %s %s',
        info?.id ?? '-',
        connection.remotePeer,
        error.code,
        error.message,
      )
      try {
        await frames.write({ success: false, error: error.message, code: error.code })
        await stream.close({ signal: AbortSignal.timeout(this.init.requestReadTimeout) })
      } catch (err) {
        stream.abort(err as Error)
      }
    } finally {
      stream.removeEventListener('close', onClose)
      this.shutdown.signal.removeEventListener('abort', onShutdown)
    }
  }

  private async readRequest(frames: FrameStream): Promise<Request | undefined> {
    let raw: unknown
    try {
      raw = await frames.read({ signal: AbortSignal.timeout(this.init.requestReadTimeout) })
    } catch (err) {
      if ((err as Error)?.name === 'TimeoutError' && !isP2PLLMError(err)) {
        throw new TimeoutError(`No request received within ${this.init.requestReadTimeout} ms`)
      }
      // Bytes that are not a JSON frame are the guest's mistake: report them as such.
      if (err instanceof ProtocolError)
        throw new InvalidRequestError(`Invalid request: ${err.message}`)
      throw err
    }
    if (raw === undefined) return undefined
    return parseRequest(raw)
  }

  private authorize(request: Request): void {
    if (this.apiKeyDigest == null) return
    // Compare digests in constant time, so response timing reveals nothing about the key.
    const given = digest(request.apiKey ?? '')
    if (request.apiKey == null || !timingSafeEqual(given, this.apiKeyDigest)) {
      throw new UnauthorizedError(
        request.apiKey == null ? 'This host requires an API key' : 'Wrong API key',
      )
    }
  }

  private async serveInfo(frames: FrameStream, signal: AbortSignal): Promise<RequestResult> {
    const started = performance.now()
    const info = (await this.init.backend.info?.({ signal })) ?? {
      model: this.init.backend.provider ?? 'unknown',
    }
    await frames.write({ success: true, data: { ...info, content: '', stop: true } }, { signal })
    return { chunks: 0, duration: performance.now() - started }
  }

  private async serveCompletion(
    request: CompletionRequest,
    frames: FrameStream,
    signal: AbortSignal,
  ): Promise<RequestResult> {
    const started = performance.now()
    const streaming = request.stream === true
    const generateRequest: GenerateRequest = {
      prompt: request.prompt,
      messages: request.messages,
      max_tokens: request.max_tokens,
      temperature: request.temperature,
      top_p: request.top_p,
      stream: streaming,
      parameters: request.parameters,
    }
    let chunks = 0
    let timeToFirstToken: number | undefined
    let text = ''
    let final: GenerateChunk | undefined
    const iterator = this.init.backend.generate(generateRequest, { signal })[Symbol.asyncIterator]()
    let done = false
    try {
      while (final == null) {
        let next: IteratorResult<GenerateChunk>
        try {
          next = await iterator.next()
        } catch (err) {
          done = true
          throw asBackendError(err)
        }
        if (next.done === true) {
          done = true
          break
        }
        const chunk = next.value
        if (typeof chunk?.content !== 'string')
          throw new BackendError('Backend yielded a chunk without string content')
        if (chunk.content !== '') {
          chunks++
          timeToFirstToken ??= performance.now() - started
        }
        if (chunk.stop === true) final = chunk
        if (streaming) {
          await frames.write(
            { success: true, data: { ...chunk, stop: chunk.stop === true } },
            { signal },
          )
        } else {
          text += chunk.content
        }
      }
    } finally {
      // Leaving before the backend finished (stop chunk, error, cancellation) lets it clean up.
      if (!done) await iterator.return?.()?.catch(() => {})
    }
    signal.throwIfAborted()
    if (streaming) {
      if (final == null)
        await frames.write({ success: true, data: { content: '', stop: true } }, { signal })
    } else {
      await frames.write(
        { success: true, data: { ...final, content: text, stop: true } },
        { signal },
      )
    }
    const tokens = typeof final?.tokens_predicted === 'number' ? final.tokens_predicted : undefined
    return { chunks, tokens, timeToFirstToken, duration: performance.now() - started }
  }
}

/** Anything a backend throws reaches the guest as a backend failure unless it chose a code. */
function asBackendError(err: unknown): Error {
  if (isP2PLLMError(err)) return err
  const name = (err as Error)?.name
  if (name === 'AbortError' || name === 'TimeoutError') return err as Error
  return new BackendError(`Backend failed: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
  })
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest()
}

/** Maps anything thrown while serving to the error that goes on the wire. */
function toWireError(err: unknown): P2PLLMError {
  if (err instanceof P2PLLMError) return err
  if (isP2PLLMError(err)) return new P2PLLMError(err.message, err.code, { cause: err })
  const name = (err as Error)?.name
  if (name === 'AbortError') return new AbortError('Aborted', { cause: err })
  if (name === 'TimeoutError') return new TimeoutError('Timed out', { cause: err })
  if (name === 'StreamResetError' || name === 'StreamAbortedError' || name === 'StreamStateError') {
    return new AbortError('Guest closed the stream', { cause: err })
  }
  return new P2PLLMError(
    `Internal error: ${(err as Error)?.message ?? String(err)}`,
    ErrorCode.INTERNAL_ERROR,
    {
      cause: err,
    },
  )
}
