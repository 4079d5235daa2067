/**
 * @packageDocumentation
 *
 * An OpenAI-compatible HTTP API in front of a shared model, so apps written for OpenAI —
 * editors, chat UIs, the `openai` npm client — use a p2p-llm host unchanged: point them at
 * the proxy's `url` as their base URL.
 *
 * @example
 * ```ts
 * import OpenAI from 'openai'
 * import { createOpenAIProxy } from 'p2p-llm'
 *
 * const proxy = await createOpenAIProxy({ address: 'p2p://12D3KooW…@192.168.1.20:4001' })
 * const openai = new OpenAI({ baseURL: proxy.url, apiKey: 'unused' })
 * const reply = await openai.chat.completions.create({
 *   model: 'any', // the host decides
 *   messages: [{ role: 'user', content: 'Hi' }],
 * })
 * console.log(reply.choices[0]?.message.content)
 * await proxy.close()
 * ```
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { AbortError } from '../codec/errors.ts'
import { parseModelAddress } from '../codec/share-url.ts'
import type { ConnectOptions } from '../guest/index.ts'
import {
  API_PREFIX,
  DEFAULT_MAX_BODY_SIZE,
  DEFAULT_MAX_RETRIES,
  DEFAULT_PROXY_HOST,
  DEFAULT_PROXY_PORT,
  DEFAULT_RETRY_DELAY,
} from './constants.ts'
import { ModelConnection } from './model-connection.ts'
import { ProxyServer } from './openai-proxy.ts'

export { InvalidParameterError } from './errors.ts'

/**
 * Options of {@link createOpenAIProxy}. Everything `connectToModel` takes (`iceServers`,
 * `webrtc`, `connectTimeout`, `privateKey`, `transports`, …) passes through, except `apiKey`
 * (here `hostApiKey`) and `signal` (here the proxy's lifetime).
 */
export interface OpenAIProxyInit extends Omit<ConnectOptions, 'apiKey' | 'signal'> {
  /** The shared model: a share URL (`p2p://<peerId>@<host>:<port>`) or a multiaddr ending in `/p2p/<peerId>`. */
  address: string | Multiaddr
  /**
   * TCP port to listen on; `0` picks a free one (see {@link OpenAIProxy.port}).
   *
   * @default 0
   */
  port?: number
  /**
   * Interface to listen on. Anyone who reaches the proxy uses the model under the proxy's peer
   * id (and the host's key), so it stays on loopback unless told otherwise; with another
   * interface, set `apiKey`.
   *
   * @default '127.0.0.1'
   */
  host?: string
  /** Required from HTTP clients as `Authorization: Bearer <apiKey>` (OpenAI clients' `apiKey`). None: open. */
  apiKey?: string
  /** The host's API key, sent with every request to the host. */
  hostApiKey?: string
  /**
   * The model's name in `/v1/models` and every reply's `model`.
   *
   * @default the host's (`model.info().model`), asked once
   */
  modelName?: string
  /** Closes the proxy when it aborts. */
  signal?: AbortSignal
  /**
   * Largest request body in bytes; larger ones get 413.
   *
   * @default 1_048_576 (the host's own frame limit)
   */
  maxBodySize?: number
  /**
   * Retries of a request that cannot reach the host (`CONNECTION_FAILED`), before anything was
   * sent to the HTTP client. Never once a reply has begun.
   *
   * @default 4
   */
  maxRetries?: number
  /**
   * Delay before the first retry, in ms; doubling with each further one (capped at 4 s, ±25 % jitter).
   *
   * @default 250
   */
  retryDelay?: number
}

/** A running proxy. */
export interface OpenAIProxy {
  /** The base URL OpenAI clients take: `http://127.0.0.1:<port>/v1`. */
  readonly url: string
  /** The port it listens on (the one picked when `port` was 0). */
  readonly port: number
  /** Stops listening, ends requests under way and closes the connection to the host. */
  close(): Promise<void>
}

/**
 * Starts an OpenAI-compatible HTTP API (`GET /v1/models`, `POST /v1/chat/completions`,
 * `POST /v1/completions`) for a shared model. It connects to the host on the first request and
 * keeps that connection; a host that restarts is reached again by itself.
 *
 * Rejects at once on a malformed `address` (`InvalidShareUrlError`) or a port it cannot
 * listen on; an unreachable host shows only in the replies (502).
 */
export async function createOpenAIProxy(init: OpenAIProxyInit): Promise<OpenAIProxy> {
  const {
    address,
    port = DEFAULT_PROXY_PORT,
    host = DEFAULT_PROXY_HOST,
    apiKey,
    hostApiKey,
    modelName,
    signal,
    maxBodySize = DEFAULT_MAX_BODY_SIZE,
    maxRetries = DEFAULT_MAX_RETRIES,
    retryDelay = DEFAULT_RETRY_DELAY,
    ...connect
  } = init
  if (signal?.aborted === true) throw new AbortError('Aborted', { cause: signal.reason })
  parseModelAddress(address)
  const connection = new ModelConnection({
    address,
    connect: { ...connect, apiKey: hostApiKey },
    modelName,
    maxRetries,
    retryDelay,
  })
  const server = new ProxyServer({ connection, apiKey, maxBodySize })
  const listening = await server.listen(port, host)
  const onAbort = (): void => void server.close()
  signal?.addEventListener('abort', onAbort, { once: true })
  const urlHost = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${urlHost}:${listening}${API_PREFIX}`,
    port: listening,
    async close() {
      signal?.removeEventListener('abort', onAbort)
      await server.close()
    },
  }
}
