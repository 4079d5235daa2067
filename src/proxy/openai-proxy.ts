/**
 * The proxy's HTTP server: OpenAI's routes on node:http, each request turned into one call on
 * the shared model, its reply into OpenAI's JSON or server-sent events.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { logger } from '@libp2p/logger'
import { AbortError, P2PLLMError, ProtocolError, UnauthorizedError } from '../codec/errors.ts'
import type { CompletionChunk, CompletionResult, RemoteModel } from '../guest/index.ts'
import { API_PREFIX } from './constants.ts'
import {
  type ChatRequest,
  convertChatRequest,
  convertCompletionRequest,
  type TextRequest,
} from './convert-request.ts'
import {
  chatChunk,
  chatCompletion,
  chatDelta,
  finishReasonOf,
  modelList,
  modelObject,
  newReplyMeta,
  type ReplyMeta,
  type Route,
  SSE_DONE,
  sseEvent,
  textChunk,
  textCompletion,
  usageChunk,
  usageOf,
} from './convert-response.ts'
import { readJsonBody, SSE_HEADERS, sendJson, write } from './http.ts'
import { ProxyErrorCode, toOpenAIError } from './map-error.ts'
import type { ModelConnection } from './model-connection.ts'

const log = logger('p2p-llm:proxy')

export interface ProxyServerInit {
  connection: ModelConnection
  /** Required from HTTP clients as `Authorization: Bearer <apiKey>`. */
  apiKey?: string
  maxBodySize: number
}

type Handler = (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => Promise<void>

/** A started generation: its first piece, and the rest to come. */
interface StartedStream {
  first: IteratorResult<CompletionChunk>
  rest: AsyncIterator<CompletionChunk>
}

export class ProxyServer {
  readonly server: Server
  private readonly init: ProxyServerInit
  private readonly keyDigest?: Buffer
  /** `created` of the model in `/v1/models`: when this proxy started. */
  private readonly startedAt = Math.floor(Date.now() / 1000)
  private closed?: Promise<void>

  constructor(init: ProxyServerInit) {
    this.init = init
    if (init.apiKey != null && init.apiKey !== '') this.keyDigest = digest(init.apiKey)
    this.server = createServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        log.error('request %s %s failed: %e', req.method, req.url, err)
        res.destroy()
      })
    })
  }

  async listen(port: number, host: string): Promise<number> {
    this.server.listen(port, host)
    await once(this.server, 'listening')
    return (this.server.address() as AddressInfo).port
  }

  /** Stops listening, ends in-flight requests (streams get an error event) and disconnects. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()))
      await this.init.connection.close()
      this.server.closeIdleConnections()
      // Replies that were under way have now answered the abort; drop what still hangs on.
      setTimeout(() => this.server.closeAllConnections(), 100).unref()
      await stopped
    })()
    return this.closed
  }

  /** Handlers by path (after `/v1`) and method. */
  private readonly routes = new Map<string, ReadonlyMap<string, Handler>>([
    ['/models', new Map([['GET', (_req, res, signal) => this.listModels(res, signal)]])],
    ['/chat/completions', new Map([['POST', (req, res, signal) => this.chat(req, res, signal)]])],
    ['/completions', new Map([['POST', (req, res, signal) => this.complete(req, res, signal)]])],
  ])

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The client went away before its reply was complete: stop the generation on the host.
    const gone = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(new AbortError('The HTTP client went away'))
    })
    const signal = AbortSignal.any([gone.signal, this.init.connection.signal])
    try {
      const handler = this.route(req, res)
      this.authorize(req)
      await handler(req, res, signal)
    } catch (err) {
      if (gone.signal.aborted) {
        log('%s %s: the client went away', req.method, req.url)
        return
      }
      this.fail(
        res,
        this.init.connection.signal.aborted ? new AbortError('The proxy is closing') : err,
      )
    }
  }

  /** Finds the handler for a request, or throws `NOT_FOUND` / `METHOD_NOT_ALLOWED`. */
  private route(req: IncomingMessage, res: ServerResponse): Handler {
    const path = new URL(req.url ?? '/', 'http://proxy').pathname.replace(/\/+$/, '')
    const method = req.method ?? 'GET'
    if (path.startsWith(`${API_PREFIX}/models/`) && path.length > `${API_PREFIX}/models/`.length) {
      if (method !== 'GET') throw methodNotAllowed(res, ['GET'])
      const id = decodeComponent(path.slice(`${API_PREFIX}/models/`.length))
      return (_req, res, signal) => this.getModel(id, res, signal)
    }
    const handlers = path.startsWith(`${API_PREFIX}/`)
      ? this.routes.get(path.slice(API_PREFIX.length))
      : undefined
    if (handlers == null) {
      throw new P2PLLMError(
        `Unknown route ${path}: this proxy serves ${API_PREFIX}/models, ${API_PREFIX}/chat/completions and ${API_PREFIX}/completions`,
        ProxyErrorCode.NOT_FOUND,
      )
    }
    const handler = handlers.get(method)
    if (handler == null) throw methodNotAllowed(res, [...handlers.keys()])
    return handler
  }

  /** Checks `Authorization: Bearer <key>` when the proxy has a key (constant-time compare). */
  private authorize(req: IncomingMessage): void {
    if (this.keyDigest == null) return
    const match = /^Bearer\s+(\S.*)$/i.exec(req.headers.authorization ?? '')
    if (match == null) {
      throw new UnauthorizedError(
        'This proxy requires an API key: send it as "Authorization: Bearer <key>"',
      )
    }
    // Digests have equal length, so the comparison time reveals nothing about the key.
    if (!timingSafeEqual(digest((match[1] as string).trim()), this.keyDigest)) {
      throw new UnauthorizedError('Wrong API key for this proxy')
    }
  }

  private async listModels(res: ServerResponse, signal: AbortSignal): Promise<void> {
    const model = await this.init.connection.modelName(signal)
    sendJson(res, 200, modelList(model, this.startedAt))
  }

  private async getModel(id: string, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const model = await this.init.connection.modelName(signal)
    if (id !== model) {
      throw new P2PLLMError(
        `The model '${id}' does not exist here; this proxy serves '${model}'`,
        ProxyErrorCode.NOT_FOUND,
      )
    }
    sendJson(res, 200, modelObject(model, this.startedAt))
  }

  private async chat(
    req: IncomingMessage,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const request: ChatRequest = convertChatRequest(await readJsonBody(req, this.init.maxBodySize))
    const meta = newReplyMeta('chat', await this.init.connection.modelName(signal))
    const started = await this.start(
      (model) => model.chatStream(request.params, { signal }),
      signal,
    )
    if (request.stream) await this.stream(res, 'chat', meta, request.includeUsage, started)
    else
      sendJson(res, 200, chatCompletion(meta, await collect(started)), { 'x-request-id': meta.id })
  }

  private async complete(
    req: IncomingMessage,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const request: TextRequest = convertCompletionRequest(
      await readJsonBody(req, this.init.maxBodySize),
    )
    const meta = newReplyMeta('completion', await this.init.connection.modelName(signal))
    const started = await this.start((model) => model.stream(request.params, { signal }), signal)
    if (request.stream) await this.stream(res, 'completion', meta, request.includeUsage, started)
    else
      sendJson(res, 200, textCompletion(meta, await collect(started)), { 'x-request-id': meta.id })
  }

  /**
   * Starts a generation and waits for its first piece before anything goes to the client: up
   * to there a failure is still an HTTP status (401, 429, 503, …) and a lost host may be
   * retried; after it, only an error event.
   */
  private start(
    generate: (model: RemoteModel) => AsyncIterable<CompletionChunk>,
    signal: AbortSignal,
  ): Promise<StartedStream> {
    return this.init.connection.run(async (model) => {
      const rest = generate(model)[Symbol.asyncIterator]()
      return { first: await rest.next(), rest }
    }, signal)
  }

  /** Sends a started generation as OpenAI's server-sent events, ending with `[DONE]`. */
  private async stream(
    res: ServerResponse,
    route: Route,
    meta: ReplyMeta,
    includeUsage: boolean,
    { first, rest }: StartedStream,
  ): Promise<void> {
    res.writeHead(200, { ...SSE_HEADERS, 'x-request-id': meta.id })
    const send = (data: unknown): Promise<void> => write(res, sseEvent(data))
    if (route === 'chat')
      await send(chatChunk(meta, { role: 'assistant', content: '' }, null, includeUsage))
    let last: CompletionChunk | undefined
    try {
      for (let next = first; !next.done; next = await rest.next()) {
        const chunk = next.value
        const reasoning =
          typeof chunk.reasoning_content === 'string' && chunk.reasoning_content !== ''
        // Empty pieces are not worth an event; reasoning-only ones are, in a chat.
        if (chunk.content !== '' || (route === 'chat' && reasoning)) {
          await send(
            route === 'chat'
              ? chatChunk(meta, chatDelta(chunk), null, includeUsage)
              : textChunk(meta, chunk.content, null, includeUsage),
          )
        }
        if (chunk.stop) {
          last = chunk
          break
        }
      }
    } finally {
      // Ends the exchange: after the last piece it just cleans up; leaving early (the client
      // went away, a write failed) cancels the generation on the host.
      await rest.return?.()
    }
    if (last == null) throw new ProtocolError('The host ended the reply without its last piece')
    const finishReason = finishReasonOf(last)
    await send(
      route === 'chat'
        ? chatChunk(meta, {}, finishReason, includeUsage)
        : textChunk(meta, '', finishReason, includeUsage),
    )
    const usage = usageOf(last)
    if (includeUsage && usage != null) await send(usageChunk(meta, route, usage))
    res.end(SSE_DONE)
  }

  /**
   * Answers a failure: an OpenAI error reply with its status, or, once a stream has begun, one
   * last event `data: {"error": {…}}` (what OpenAI sends; its clients throw it) and no `[DONE]`.
   */
  private fail(res: ServerResponse, err: unknown): void {
    const reply = toOpenAIError(err)
    if (reply.status >= 500) log('answering %d: %s', reply.status, reply.body.error.message)
    if (res.destroyed || res.writableEnded) return
    if (res.headersSent) {
      res.end(sseEvent(reply.body))
      return
    }
    // A body left unread (413, an early 401) is not worth reading: close the connection after.
    const headers = res.req.complete ? reply.headers : { ...reply.headers, connection: 'close' }
    sendJson(res, reply.status, reply.body, headers)
  }
}

/**
 * Joins a started generation into one whole reply: the last piece's fields (finish reason,
 * token counts) with all the text. Whole replies are streamed from the host too, because
 * a streamed generation is one llama-server stops when the client goes away; a whole one
 * (`stream: false` to llama-server) runs to its end.
 */
async function collect({ first, rest }: StartedStream): Promise<CompletionResult> {
  let content = ''
  let reasoning = ''
  try {
    for (let next = first; !next.done; next = await rest.next()) {
      const chunk = next.value
      content += chunk.content
      if (typeof chunk.reasoning_content === 'string') reasoning += chunk.reasoning_content
      if (chunk.stop) {
        return { ...chunk, content, ...(reasoning !== '' ? { reasoning_content: reasoning } : {}) }
      }
    }
  } finally {
    await rest.return?.()
  }
  throw new ProtocolError('The host ended the reply without its last piece')
}

function methodNotAllowed(res: ServerResponse, allowed: string[]): P2PLLMError {
  res.setHeader('allow', allowed.join(', '))
  return new P2PLLMError(
    `This route takes ${allowed.join(' or ')}`,
    ProxyErrorCode.METHOD_NOT_ALLOWED,
  )
}

/** A model id from the path (clients percent-encode ids such as `org/model`); as is if malformed. */
function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest()
}
