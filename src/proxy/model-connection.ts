/**
 * The proxy's one link to the shared model: connected on first use, kept for every later
 * request, and tried again with capped, jittered backoff when the host cannot be reached — the
 * host restarted, or is not up yet. Retries happen only before anything went to the HTTP
 * client: a caller retries a whole call, never a reply that has begun.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { logger } from '@libp2p/logger'
import type { Multiaddr } from '@multiformats/multiaddr'
import { AbortError, ErrorCode, isP2PLLMError, UnauthorizedError } from '../codec/errors.ts'
import { type ConnectOptions, connectToModel, type RemoteModel } from '../guest/index.ts'
import { MAX_RETRY_DELAY } from './constants.ts'

const log = logger('p2p-llm:proxy')

export interface ModelConnectionInit {
  address: string | Multiaddr
  /** For `connectToModel`; `apiKey` is the host's key. */
  connect: Omit<ConnectOptions, 'signal'>
  /** The name to report; asked from the host (`info()`) once when absent. */
  modelName?: string
  maxRetries: number
  retryDelay: number
}

export class ModelConnection {
  private readonly init: ModelConnectionInit
  private readonly lifetime = new AbortController()
  private model?: Promise<RemoteModel>
  private name?: Promise<string>

  constructor(init: ModelConnectionInit) {
    this.init = init
  }

  /** Aborts when the proxy closes: in-flight calls end, and no new ones start. */
  get signal(): AbortSignal {
    return this.lifetime.signal
  }

  /**
   * Runs `call` on the model, connecting first if need be. A call that fails with
   * `CONNECTION_FAILED` is run again, up to `maxRetries` times, after 1×, 2×, 4×… `retryDelay`;
   * so `call` must not have sent anything to the HTTP client when it throws.
   */
  async run<T>(call: (model: RemoteModel) => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await call(await this.connected(signal))
      } catch (err) {
        if (signal.aborted || this.lifetime.signal.aborted) throw err
        if (!isP2PLLMError(err) || err.code !== ErrorCode.CONNECTION_FAILED) throw fromHost(err)
        if (retry >= this.init.maxRetries) throw err
        const delay = backoff(this.init.retryDelay, retry)
        log('cannot reach the host (%s); retry %d in %d ms', err.message, retry + 1, delay)
        await sleep(delay, undefined, { signal })
      }
    }
  }

  /** The model's name for `/v1/models` and every reply: `modelName`, else the host's, once. */
  modelName(signal: AbortSignal): Promise<string> {
    if (this.init.modelName != null) return Promise.resolve(this.init.modelName)
    if (this.name == null) {
      const pending = this.run(
        async (model) => (await model.info({ signal: this.lifetime.signal })).model,
        this.lifetime.signal,
      )
      this.name = pending
      // A failure is the caller's to report; the next request asks again.
      pending.catch(() => {
        if (this.name === pending) this.name = undefined
      })
    }
    return untilAborted(this.name, signal)
  }

  /** Ends in-flight calls and closes the connection. */
  async close(): Promise<void> {
    this.lifetime.abort(new AbortError('The proxy is closing'))
    const model = await this.model?.catch(() => undefined)
    await model?.close()
  }

  /**
   * The connected model. Requests arriving while it connects wait for the same attempt; a
   * failed attempt is forgotten so the next request tries again. (A connected model redials by
   * itself when its connection drops.)
   */
  private connected(signal: AbortSignal): Promise<RemoteModel> {
    if (this.lifetime.signal.aborted) return Promise.reject(this.lifetime.signal.reason)
    if (this.model == null) {
      const pending = connectToModel(this.init.address, {
        ...this.init.connect,
        signal: this.lifetime.signal,
      })
      this.model = pending
      pending.then(
        (model) => log('connected to %s (%s)', model.peerId, model.connection.kind),
        () => {
          if (this.model === pending) this.model = undefined
        },
      )
    }
    return untilAborted(this.model, signal)
  }
}

/** The host's `UNAUTHORIZED` names the key the proxy sent, not the one its client sent. */
function fromHost(err: unknown): unknown {
  if (!isP2PLLMError(err) || err.code !== ErrorCode.UNAUTHORIZED) return err
  return new UnauthorizedError(
    `The shared model's host refused this proxy: ${err.message} (the proxy's hostApiKey, CLI --host-api-key)`,
    { cause: err },
  )
}

/** `base · 2^retry`, capped, with ±25 % jitter so many proxies do not retry in step. */
function backoff(base: number, retry: number): number {
  const delay = Math.min(base * 2 ** retry, MAX_RETRY_DELAY)
  return Math.round(delay * (0.75 + Math.random() * 0.5))
}

/** Waits for `promise`, or rejects with an `AbortError` as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortError('Aborted', { cause: signal.reason }))
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortError('Aborted', { cause: signal.reason }))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
