/**
 * `llamaCpp()`: shares a llama.cpp `llama-server` (over HTTP or a Unix socket). `prompt` requests
 * use its native `/completion` route, `messages` requests its OpenAI-style
 * `/v1/chat/completions` (which applies the model's chat template); both stream through
 * server-sent events.
 */
import type {
  BackendCallOptions,
  GenerateChunk,
  GenerateOptions,
  GenerateRequest,
  ModelBackend,
  ModelInfo,
} from '../codec/backend.ts'
import { BackendError, BackendUnavailableError } from '../codec/errors.ts'
import { createHttpClient, mapBodyError, readJson } from './http.ts'
import { generateWithOpenAI, type OpenAIGenerateInit } from './openai-compatible.ts'
import { readServerSentEvents } from './sse.ts'

export interface LlamaCppInit {
  /**
   * Base URL of llama-server.
   *
   * @default 'http://127.0.0.1:8080' (llama-server's own default)
   */
  url?: string
  /**
   * Reach llama-server on this Unix socket (`llama-server --host /path/x.sock`) instead of TCP;
   * `url` then only contributes its path (leave it out).
   */
  socketPath?: string
  /** llama-server's `--api-key`, sent as a bearer token. */
  apiKey?: string
  /** Extra HTTP headers on every request. */
  headers?: Record<string, string>
  /**
   * How long to wait for llama-server to start answering a request, in ms.
   *
   * @default 300_000
   */
  headersTimeout?: number
}

export const DEFAULT_LLAMA_CPP_URL = 'http://127.0.0.1:8080'

/** Fields of llama-server's last `/completion` event that are worth passing to guests. */
const FINAL_FIELDS = [
  'model',
  'tokens_predicted',
  'tokens_evaluated',
  'tokens_cached',
  'truncated',
  'stop_type',
  'stopping_word',
  'timings',
] as const

interface LlamaCompletion {
  content?: string
  stop?: boolean
  stop_type?: string
  [field: string]: unknown
}

export function llamaCpp(init: LlamaCppInit = {}): ModelBackend {
  const http = createHttpClient({
    baseUrl: init.url ?? DEFAULT_LLAMA_CPP_URL,
    socketPath: init.socketPath,
    headersTimeout: init.headersTimeout,
    // llama-server ends every streamed reply by closing the connection (see http.ts).
    freshConnectionPerStream: true,
    headers: {
      ...(init.apiKey != null ? { authorization: `Bearer ${init.apiKey}` } : {}),
      ...init.headers,
    },
  })

  const chat: OpenAIGenerateInit = {
    http,
    pathPrefix: '/v1',
    server: init.socketPath != null ? `llama-server at unix:${init.socketPath}` : 'llama-server',
  }

  async function* generate(
    request: GenerateRequest,
    { signal }: GenerateOptions,
  ): AsyncGenerator<GenerateChunk> {
    // Always streamed from llama-server, even when the guest wants one whole reply (the host
    // joins the pieces): llama-server notices a cancelled request only when it fails to write
    // the next piece, so a non-streamed generation would run on after the guest gave up.
    // Chat goes through llama-server's OpenAI route, which applies the model's chat template.
    if (request.prompt == null) {
      yield* generateWithOpenAI(chat, { ...request, stream: true }, { signal })
      return
    }
    const stream = true
    const body = {
      ...request.parameters,
      prompt: request.prompt,
      ...(request.max_tokens !== undefined ? { n_predict: request.max_tokens } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.top_p !== undefined ? { top_p: request.top_p } : {}),
      stream,
    }
    const response = await http.post('/completion', body, { signal, accept: 'text/event-stream' })
    let stopped = false
    try {
      for await (const event of readServerSentEvents(response.body)) {
        if (event.data === '[DONE]') break
        const data = parseEvent(event.data)
        if (data.stop === true) {
          stopped = true
          yield finalChunk(data)
          break
        }
        yield { content: data.content ?? '' }
      }
    } catch (err) {
      throw mapBodyError(err, signal)
    } finally {
      // Leaving early (guest cancelled) must end the HTTP request so llama-server stops too.
      if (!response.body.destroyed) response.body.destroy()
    }
    if (!stopped && !signal.aborted)
      throw new BackendError('llama-server ended its stream without a final event')
  }

  return {
    specificationVersion: 'p2p-llm.backend.v1',
    provider: 'llama.cpp',
    generate,

    async info(options: BackendCallOptions = {}): Promise<ModelInfo> {
      const props = await readJson<LlamaProps>(await http.get('/props', options), options.signal)
      const settings = props.default_generation_settings
      return {
        model: props.model_alias ?? basename(props.model_path) ?? 'llama.cpp',
        contextSize: settings?.n_ctx ?? settings?.params?.n_ctx,
        capabilities: ['completion', 'chat', 'stream'],
        provider: 'llama.cpp',
        ...(props.build_info != null ? { build: props.build_info } : {}),
      }
    },

    async health(options: BackendCallOptions = {}): Promise<void> {
      const response = await http.get('/health', options)
      await response.body.dump()
    },

    close: () => http.close(),
  }
}

interface LlamaProps {
  model_alias?: string
  model_path?: string
  build_info?: string
  default_generation_settings?: { n_ctx?: number; params?: { n_ctx?: number } }
}

function basename(path: string | undefined): string | undefined {
  return path?.split(/[\\/]/).pop()
}

function parseEvent(data: string): LlamaCompletion {
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch (err) {
    throw new BackendError(`llama-server sent an event that is not JSON: ${data.slice(0, 200)}`, {
      cause: err,
    })
  }
  const error = (parsed as { error?: { message?: string; code?: number } }).error
  if (error != null) {
    const message = `llama-server: ${error.message ?? JSON.stringify(error)}`
    throw error.code === 503 ? new BackendUnavailableError(message) : new BackendError(message)
  }
  return parsed as LlamaCompletion
}

function finalChunk(data: LlamaCompletion): GenerateChunk {
  const chunk: GenerateChunk = { content: data.content ?? '', stop: true }
  for (const field of FINAL_FIELDS) if (data[field] !== undefined) chunk[field] = data[field]
  // llama-server names the model by its path on the host's disk: guests get the file name.
  if (typeof chunk.model === 'string') chunk.model = basename(chunk.model)
  chunk.finish_reason = data.stop_type === 'limit' ? 'length' : 'stop'
  return chunk
}
