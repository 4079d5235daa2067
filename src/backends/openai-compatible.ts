/**
 * `openAICompatible()`: shares any server that speaks the OpenAI HTTP API — Ollama, LM Studio,
 * vLLM, llama.cpp's `/v1` routes, OpenAI itself. `prompt` requests go to `/completions`,
 * `messages` requests to `/chat/completions`; streamed replies arrive as server-sent events.
 */
import type {
  BackendCallOptions,
  GenerateChunk,
  GenerateOptions,
  GenerateRequest,
  ModelBackend,
  ModelInfo,
} from '../codec/backend.ts'
import { createHttpClient, type HttpClient, mapBodyError, readJson } from './http.ts'
import {
  convertOpenAIModelList,
  convertOpenAIResponse,
  convertOpenAIStream,
  convertToOpenAIRequest,
} from './openai-protocol.ts'
import { readServerSentEvents } from './sse.ts'

export interface OpenAICompatibleInit {
  /**
   * Base URL of the API, with its version path: `http://127.0.0.1:11434/v1` (Ollama),
   * `http://127.0.0.1:1234/v1` (LM Studio), `http://127.0.0.1:8000/v1` (vLLM),
   * `http://127.0.0.1:8080/v1` (llama-server). Routes are appended to it (`/chat/completions`).
   * With `socketPath` only its path matters (`http://localhost/v1`).
   */
  baseURL: string
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string
  /**
   * The model to use, sent as `model` in every request (guests cannot choose another). Ollama,
   * vLLM serving several models and OpenAI need it; llama-server and LM Studio use the loaded one.
   *
   * @default the server's choice; `info()` reports the first model `GET /models` lists
   */
  model?: string
  /** Extra HTTP headers on every request. */
  headers?: Record<string, string>
  /** Reach the server on this Unix socket instead of TCP. */
  socketPath?: string
  /**
   * How long to wait for the server to start answering a request (the first token), in ms.
   *
   * @default 300_000
   */
  headersTimeout?: number
  /**
   * Ask streamed replies for token usage (`stream_options: { include_usage: true }`), so the
   * last chunk carries `usage`. Turn off for a server that rejects `stream_options`.
   *
   * @default true
   */
  includeUsage?: boolean
}

/** How {@link generateWithOpenAI} reaches and labels the server. */
export interface OpenAIGenerateInit {
  http: HttpClient
  /** Prepended to the route: `''` when the client's base URL already ends in `/v1`. */
  pathPrefix?: string
  model?: string
  includeUsage?: boolean
  /** Names the server in error messages. */
  server: string
}

/**
 * Runs one generation against an OpenAI API: a JSON call (`stream: false`, one chunk) or
 * server-sent events (`stream: true`, a chunk per piece, then the final one). Leaving early or
 * an abort destroys the response body, which ends the HTTP request so the server stops.
 * Shared with `llamaCpp()`, whose chat requests use llama-server's `/v1/chat/completions`.
 */
export async function* generateWithOpenAI(
  init: OpenAIGenerateInit,
  request: GenerateRequest,
  { signal }: GenerateOptions,
): AsyncGenerator<GenerateChunk> {
  const stream = request.stream === true
  const { route, body } = convertToOpenAIRequest(request, {
    model: init.model,
    stream,
    includeUsage: init.includeUsage,
  })
  const response = await init.http.post(`${init.pathPrefix ?? ''}${route}`, body, {
    signal,
    accept: stream ? 'text/event-stream' : 'application/json',
  })
  // A server that ignores `stream: true` answers with one JSON body: take it as a whole reply.
  const contentType = String(response.headers['content-type'] ?? '')
  if (!stream || contentType.startsWith('application/json')) {
    yield convertOpenAIResponse(await readJson(response, signal), init.server)
    return
  }
  try {
    yield* convertOpenAIStream(readServerSentEvents(response.body), init.server)
  } catch (err) {
    throw mapBodyError(err, signal)
  } finally {
    // Leaving early (guest cancelled) must end the HTTP request so the server stops generating.
    if (!response.body.destroyed) response.body.destroy()
  }
}

export function openAICompatible(init: OpenAICompatibleInit): ModelBackend {
  const http = createHttpClient({
    baseUrl: init.baseURL,
    socketPath: init.socketPath,
    headersTimeout: init.headersTimeout,
    headers: {
      ...(init.apiKey != null ? { authorization: `Bearer ${init.apiKey}` } : {}),
      ...init.headers,
    },
  })
  const server =
    init.socketPath != null
      ? `OpenAI-compatible server at unix:${init.socketPath}`
      : `OpenAI-compatible server at ${init.baseURL}`
  const generateInit: OpenAIGenerateInit = {
    http,
    model: init.model,
    includeUsage: init.includeUsage,
    server,
  }

  return {
    specificationVersion: 'p2p-llm.backend.v1',
    provider: 'openai-compatible',

    // Always streamed from the server (the host joins the pieces for a whole reply): servers
    // such as llama-server only notice a cancelled request when writing its next piece fails.
    generate: (request, options) =>
      generateWithOpenAI(generateInit, { ...request, stream: true }, options),

    async info(options: BackendCallOptions = {}): Promise<ModelInfo> {
      let listed: Pick<ModelInfo, 'model' | 'contextSize'>
      try {
        const list = await readJson(await http.get('/models', options), options.signal)
        listed = convertOpenAIModelList(list, { model: init.model, server })
      } catch (err) {
        // A server without `GET /models` still has the model it was told to use.
        if (init.model == null || (err as Error)?.name !== 'BackendError') throw err
        listed = { model: init.model }
      }
      return {
        ...listed,
        capabilities: ['completion', 'chat', 'stream'],
        provider: 'openai-compatible',
      }
    },

    async health(options: BackendCallOptions = {}): Promise<void> {
      const response = await http.get('/models', options)
      await response.body.dump()
    },

    close: () => http.close(),
  }
}
