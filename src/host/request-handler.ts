/**
 * Serves one `/llama/1.0.0` stream: read one request frame, validate it, check the key and the
 * limits, run the backend, write the reply frames, close. Every failure becomes an error frame
 * on this stream alone.
 */
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
  TooManyConnectionsError,
} from '../codec/errors.ts'
import { type FrameStream, frameStream } from '../codec/frames.ts'
import { type CompletionRequest, parseRequest, type Request } from '../codec/schemas.ts'
import type { AuthGuard } from './auth-guard.ts'
import type { RequestEndEvent, RequestErrorEvent, RequestStartEvent } from './events.ts'
import type { FairQueue } from './fair-queue.ts'
import type { GuestRegistry } from './guest-registry.ts'

export interface RequestHandlerInit {
  backend: ModelBackend
  guard: AuthGuard
  guests: GuestRegistry
  queue: FairQueue
  maxFrameSize: number
  requestReadTimeout: number
  requestTimeout: number
  /** Put prompts in `request:start` events (off by default: prompts are the guests' business). */
  logPrompts: boolean
  log: Logger
  /** Whether this connection was turned away (over the limit): its requests get `TOO_MANY_CONNECTIONS`. */
  isRefused(connection: Connection): boolean
  onRefusedRequest(connection: Connection): void
  onStart(event: RequestStartEvent): void
  onEnd(event: RequestEndEvent): void
  onError(event: RequestErrorEvent): void
}

interface Progress {
  chunks: number
  tokens?: number
  queueTime: number
  timeToFirstToken?: number
}

export class RequestHandler {
  private readonly init: RequestHandlerInit
  private nextId = 1
  /** Aborts every request in flight when the host stops. */
  private readonly shutdown = new AbortController()

  constructor(init: RequestHandlerInit) {
    this.init = init
  }

  /** Ends every request in flight (host stopping). */
  abortAll(): void {
    this.shutdown.abort(new AbortError('The host is stopping'))
  }

  async handle(stream: Stream, connection: Connection): Promise<void> {
    const { log } = this.init
    const peerId = connection.remotePeer.toString()
    const frames = frameStream(stream, { maxFrameSize: this.init.maxFrameSize })
    let arrived: number | undefined
    let started: RequestStartEvent | undefined
    // Aborted when the guest resets its stream or the connection drops, the host stops, or the
    // request times out: whichever comes first ends the backend call.
    const controller = new AbortController()
    const onClose = (): void => controller.abort(new AbortError('The guest closed the stream'))
    stream.addEventListener('close', onClose)
    const onShutdown = (): void => controller.abort(this.shutdown.signal.reason)
    this.shutdown.signal.addEventListener('abort', onShutdown)
    let timeout: ReturnType<typeof setTimeout> | undefined
    let endRequest: (() => void) | undefined

    try {
      // Read the request even from a refused guest: it is the protocol's turn order, and an
      // answer that arrives while the guest is still negotiating the stream breaks libp2p's
      // multistream-select on its side (it cannot hand the early bytes back to the stream).
      const request = await this.readRequest(frames)
      if (request == null) {
        // The guest opened a stream and closed it without asking: close our side too, or the
        // stream stays half open (counting against maxInboundStreams) until the connection ends.
        await stream
          .close({ signal: AbortSignal.timeout(this.init.requestReadTimeout) })
          .catch((err: Error) => stream.abort(err))
        return
      }
      // Timing starts with the request, not the stream: guests may open streams ahead of time.
      arrived = performance.now()
      timeout = setTimeout(
        () =>
          controller.abort(new TimeoutError(`The request exceeded ${this.init.requestTimeout} ms`)),
        this.init.requestTimeout,
      )
      if (this.init.isRefused(connection)) {
        throw new TooManyConnectionsError(
          'The host is serving as many guests as it allows; try again later',
        )
      }
      await this.init.guard.check(peerId, request.apiKey, controller.signal)
      endRequest = this.init.guests.startRequest(peerId, connection)
      started = {
        id: this.nextId++,
        peerId,
        kind: request.type === 'info' ? 'info' : request.messages != null ? 'chat' : 'completion',
        stream: request.type !== 'info' && request.stream === true,
        ...(this.init.logPrompts && request.type !== 'info' ? { prompt: promptOf(request) } : {}),
      }
      this.init.onStart(started)
      const progress =
        request.type === 'info'
          ? await this.serveInfo(frames, controller.signal)
          : await this.serveCompletion(request, peerId, frames, controller.signal, arrived)
      this.init.onEnd({ ...started, ...progress, duration: performance.now() - arrived })
      // Done: closing from here on is the normal end, not a cancellation.
      stream.removeEventListener('close', onClose)
      await stream.close({ signal: AbortSignal.timeout(this.init.requestReadTimeout) })
    } catch (thrown) {
      const error = toWireError(controller.signal.aborted ? controller.signal.reason : thrown)
      const gone = stream.status !== 'open' || stream.writeStatus !== 'writable'
      // A stream that went away before carrying a request (a guest's unused spare stream, a
      // vanished guest) was no request: nothing to report.
      if (arrived == null && gone && error.code === ErrorCode.ABORTED) {
        stream.abort(error)
        return
      }
      this.init.onError({
        ...started,
        peerId,
        error,
        duration: performance.now() - (arrived ?? performance.now()),
      })
      if (gone) {
        log(
          'request %s from %p ended: %s',
          started?.id ?? '-',
          connection.remotePeer,
          error.message,
        )
        stream.abort(error)
        return
      }
      log(
        'request %s from %p failed: %s %s',
        started?.id ?? '-',
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
      // A refused or just-blocked peer leaves once it has read why.
      if (error.code === ErrorCode.TOO_MANY_CONNECTIONS || this.init.guests.isBlocked(peerId)) {
        this.init.onRefusedRequest(connection)
      }
    } finally {
      clearTimeout(timeout)
      endRequest?.()
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

  private async serveInfo(frames: FrameStream, signal: AbortSignal): Promise<Progress> {
    const { backend } = this.init
    let info: Awaited<ReturnType<NonNullable<ModelBackend['info']>>>
    try {
      info = (await backend.info?.({ signal })) ?? { model: backend.provider ?? 'unknown' }
    } catch (err) {
      throw asBackendError(err)
    }
    await frames.write({ success: true, data: { ...info, content: '', stop: true } }, { signal })
    return { chunks: 0, queueTime: 0 }
  }

  private async serveCompletion(
    request: CompletionRequest,
    peerId: string,
    frames: FrameStream,
    signal: AbortSignal,
    arrived: number,
  ): Promise<Progress> {
    const release = await this.init.queue.acquire(peerId, signal)
    const progress: Progress = { chunks: 0, queueTime: performance.now() - arrived }
    try {
      await this.generate(request, frames, signal, arrived, progress)
    } finally {
      release()
    }
    return progress
  }

  private async generate(
    request: CompletionRequest,
    frames: FrameStream,
    signal: AbortSignal,
    arrived: number,
    progress: Progress,
  ): Promise<void> {
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
          throw new BackendError('The backend produced a piece without text')
        if (chunk.content !== '') {
          progress.chunks++
          progress.timeToFirstToken ??= performance.now() - arrived
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
    if (typeof final?.tokens_predicted === 'number') progress.tokens = final.tokens_predicted
  }
}

function promptOf(request: CompletionRequest): string {
  return request.prompt ?? request.messages?.at(-1)?.content ?? ''
}

/** Anything a backend throws reaches the guest as a backend failure unless it chose a code. */
function asBackendError(err: unknown): Error {
  if (isP2PLLMError(err)) return err
  const name = (err as Error)?.name
  if (name === 'AbortError' || name === 'TimeoutError') return err as Error
  return new BackendError(`The backend failed: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
  })
}

/** Maps anything thrown while serving to the error that goes on the wire. */
function toWireError(err: unknown): P2PLLMError {
  if (err instanceof P2PLLMError) return err
  if (isP2PLLMError(err)) return new P2PLLMError(err.message, err.code, { cause: err })
  const name = (err as Error)?.name
  if (name === 'AbortError') return new AbortError('Aborted', { cause: err })
  if (name === 'TimeoutError') return new TimeoutError('Timed out', { cause: err })
  if (name === 'StreamResetError' || name === 'StreamAbortedError' || name === 'StreamStateError') {
    return new AbortError('The guest closed the stream', { cause: err })
  }
  return new P2PLLMError(
    `Internal error: ${(err as Error)?.message ?? String(err)}`,
    ErrorCode.INTERNAL_ERROR,
    {
      cause: err,
    },
  )
}
