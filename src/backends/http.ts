/**
 * A small JSON-over-HTTP client for backends, on undici: keep-alive connection pooling (no
 * TCP handshake per request), Unix sockets, and errors mapped to the wire codes.
 */
import { Agent, type Dispatcher, request } from 'undici'
import { AbortError, BackendError, BackendUnavailableError } from '../codec/errors.ts'

export interface HttpBackendInit {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080`. With `socketPath` only its path matters. */
  baseUrl: string
  /** Talk HTTP over this Unix socket instead of TCP. */
  socketPath?: string
  /** Extra headers on every request (e.g. `Authorization`). */
  headers?: Record<string, string>
  /**
   * How long to wait for response headers (the first token, for a streamed reply), in ms.
   *
   * @default 300_000
   */
  headersTimeout?: number
  /**
   * Use a new connection for each streamed (server-sent events) request, for servers that close
   * the connection after a stream while announcing keep-alive (llama-server): a request sent on
   * such a socket before its close arrives fails with "other side closed".
   */
  freshConnectionPerStream?: boolean
}

export interface HttpResponse {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: Dispatcher.ResponseData['body']
}

export interface HttpClient {
  post(
    path: string,
    body: unknown,
    options: { signal?: AbortSignal; accept?: string },
  ): Promise<HttpResponse>
  get(path: string, options: { signal?: AbortSignal }): Promise<HttpResponse>
  close(): Promise<void>
}

export function createHttpClient(init: HttpBackendInit): HttpClient {
  const base = new URL(init.baseUrl)
  const basePath = base.pathname.replace(/\/$/, '')
  const dispatcher = new Agent({
    connect: init.socketPath != null ? { socketPath: init.socketPath } : {},
    headersTimeout: init.headersTimeout ?? 300_000,
    // A generation may pause for long between tokens on a slow machine.
    bodyTimeout: 0,
    keepAliveTimeout: 30_000,
  })
  const where = init.socketPath != null ? `unix:${init.socketPath}` : base.origin

  async function send(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    options: { signal?: AbortSignal; accept?: string },
  ): Promise<HttpResponse> {
    const url = new URL(basePath + path, base.origin)
    let response: Dispatcher.ResponseData
    try {
      response = await request(url, {
        method,
        dispatcher,
        signal: options.signal,
        reset: init.freshConnectionPerStream === true && options.accept === 'text/event-stream',
        headers: {
          accept: options.accept ?? 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...init.headers,
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      })
    } catch (err) {
      throw mapRequestError(err, where, options.signal)
    }
    if (response.statusCode >= 400) {
      const text = await response.body.text().catch(() => '')
      const message = `${where}${path} answered HTTP ${response.statusCode}: ${errorMessageOf(text)}`
      // 503 is llama-server (and most servers) saying "loading" or "overloaded": not a bad request.
      throw response.statusCode === 503 || response.statusCode === 502
        ? new BackendUnavailableError(message)
        : new BackendError(message)
    }
    return { statusCode: response.statusCode, headers: response.headers, body: response.body }
  }

  return {
    post: (path, body, options) => send('POST', path, body, options),
    get: (path, options) => send('GET', path, undefined, options),
    close: () => dispatcher.close(),
  }
}

/** Maps an error thrown while reading a response body (server died mid-reply, abort). */
export function mapBodyError(err: unknown, signal?: AbortSignal): Error {
  if (signal?.aborted === true) return new AbortError('Aborted', { cause: err })
  if (
    err instanceof Error &&
    (err.name === 'BackendError' || err.name === 'BackendUnavailableError')
  )
    return err
  return new BackendError(
    `Backend broke off its reply: ${(err as Error)?.message ?? String(err)}`,
    { cause: err },
  )
}

function mapRequestError(err: unknown, where: string, signal?: AbortSignal): Error {
  if (signal?.aborted === true) return new AbortError('Aborted', { cause: err })
  const code = (err as { code?: string })?.code ?? ''
  const message = (err as Error)?.message ?? String(err)
  // Connection-level failures mean the server is not there (yet): unavailable, not erroring.
  if (
    /^(ECONNREFUSED|ENOENT|ECONNRESET|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|EACCES|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT)$/.test(
      code,
    )
  ) {
    return new BackendUnavailableError(
      `Backend at ${where} is unreachable: ${code} ${message}`.trim(),
      { cause: err },
    )
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new BackendUnavailableError(`Backend at ${where} did not answer in time`, { cause: err })
  }
  return new BackendError(`Request to ${where} failed: ${message}`, { cause: err })
}

/** Pulls a readable message out of an error body (llama.cpp and OpenAI: `{error:{message}}`). */
function errorMessageOf(text: string): string {
  try {
    const json = JSON.parse(text) as { error?: { message?: string } | string; message?: string }
    if (typeof json.error === 'string') return json.error
    return json.error?.message ?? json.message ?? text.slice(0, 500)
  } catch {
    return text.slice(0, 500) || '(empty body)'
  }
}

/** Parses a JSON response body, mapping garbage to {@link BackendError}. */
export async function readJson<T>(response: HttpResponse, signal?: AbortSignal): Promise<T> {
  try {
    return (await response.body.json()) as T
  } catch (err) {
    throw mapBodyError(err, signal)
  }
}
