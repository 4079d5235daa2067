/**
 * Conversions between this package's backend interface and the OpenAI HTTP API
 * (`/completions`, `/chat/completions`, `/models`), shared by `openAICompatible()` and the chat
 * route of `llamaCpp()`. Pure functions over plain objects: no I/O, so they are unit-tested alone.
 *
 * Shaped after the Vercel AI SDK's `convert-*`/`map-*` files; written against what OpenAI,
 * llama-server, Ollama, vLLM and LM Studio actually send (see docs/backends.md).
 */
import type { EventSourceMessage } from 'eventsource-parser'
import type { GenerateChunk, GenerateRequest, ModelInfo } from '../codec/backend.ts'
import { BackendError, BackendUnavailableError, InvalidRequestError } from '../codec/errors.ts'

/** The two generation routes, relative to the API's base URL (e.g. `…/v1`). */
export type OpenAIRoute = '/completions' | '/chat/completions'

export interface OpenAIRequestOptions {
  /** The `model` field. The host's choice wins over one a guest put in `parameters`. */
  model?: string
  /** Ask for server-sent events (`stream: true`). */
  stream: boolean
  /**
   * Ask a streamed reply for token usage (`stream_options: { include_usage: true }`).
   *
   * @default true
   */
  includeUsage?: boolean
}

/** An OpenAI request: which route, and its JSON body. */
export interface OpenAIRequest {
  route: OpenAIRoute
  body: Record<string, unknown>
}

/** Token counts, as every OpenAI-compatible server reports them (plus whatever it adds). */
export interface OpenAIUsage {
  prompt_tokens?: number
  completion_tokens?: number
  total_tokens?: number
  [field: string]: unknown
}

interface OpenAIMessage {
  role?: string
  content?: string | null
  /** Reasoning models on llama-server, vLLM, DeepSeek: the thinking, apart from the answer. */
  reasoning_content?: string | null
}

interface OpenAIChoice {
  index?: number
  /** `/completions` */
  text?: string | null
  /** `/chat/completions`, whole reply */
  message?: OpenAIMessage | null
  /** `/chat/completions`, streamed piece */
  delta?: OpenAIMessage | null
  finish_reason?: string | null
}

/** A `/completions` or `/chat/completions` response body, or one streamed event of either. */
export interface OpenAIResponse {
  id?: string
  model?: string
  choices?: OpenAIChoice[]
  usage?: OpenAIUsage | null
  /** llama-server's extension: prompt and generation speed. */
  timings?: unknown
  error?: unknown
}

/** What one response or event adds to a reply. */
export interface OpenAIPiece {
  content: string
  reasoning_content?: string
  /** Set once the server says generation ended: OpenAI's raw value (`stop`, `length`, …). */
  finish_reason?: string
  usage?: OpenAIUsage
  model?: string
  timings?: unknown
}

/** A `GET /models` body: OpenAI's `{ data: [{ id }] }`, with whatever a server adds per model. */
export interface OpenAIModelList {
  data?: Array<{ id?: string; [field: string]: unknown }>
  [field: string]: unknown
}

/**
 * Converts a generation request to an OpenAI request: `prompt` to `/completions`, `messages`
 * to `/chat/completions`. `parameters` go into the body as they are; the fields this package
 * owns (`prompt`/`messages`, the sampling fields it maps, `stream`, `model` when set) override
 * them.
 */
export function convertToOpenAIRequest(
  request: GenerateRequest,
  options: OpenAIRequestOptions,
): OpenAIRequest {
  const chat = request.prompt == null
  if (chat && (request.messages == null || request.messages.length === 0)) {
    throw new InvalidRequestError('A request needs "prompt" or "messages"')
  }
  const body: Record<string, unknown> = {
    ...request.parameters,
    ...(options.model != null ? { model: options.model } : {}),
    ...(chat
      ? { messages: convertToOpenAIMessages(request.messages ?? []) }
      : { prompt: request.prompt }),
    ...(request.max_tokens !== undefined ? { max_tokens: request.max_tokens } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.top_p !== undefined ? { top_p: request.top_p } : {}),
    stream: options.stream,
  }
  if (options.stream && options.includeUsage !== false) {
    body.stream_options = {
      ...(request.parameters?.stream_options as object | undefined),
      include_usage: true,
    }
  } else if (!options.stream) {
    delete body.stream_options
  }
  return { route: chat ? '/chat/completions' : '/completions', body }
}

/** Chat turns as OpenAI takes them: `{ role, content }`, nothing else. */
export function convertToOpenAIMessages(
  messages: ReadonlyArray<{ role: string; content: string }>,
): Array<{ role: string; content: string }> {
  return messages.map(({ role, content }) => ({ role, content }))
}

/**
 * Parses one server-sent event of a streamed reply. An `error` object in it (OpenAI sends
 * `{"error": {"message": …}}` when generation fails after the headers went out) becomes a
 * {@link BackendError} — {@link BackendUnavailableError} for a 503.
 */
export function parseOpenAIEvent(event: EventSourceMessage, server: string): OpenAIResponse {
  let parsed: unknown
  try {
    parsed = JSON.parse(event.data)
  } catch (err) {
    throw new BackendError(
      `${server} sent an event that is not JSON: ${event.data.slice(0, 200)}`,
      {
        cause: err,
      },
    )
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BackendError(
      `${server} sent an event that is not an object: ${event.data.slice(0, 200)}`,
    )
  }
  const response = parsed as OpenAIResponse
  if (response.error != null || event.event === 'error') {
    throw mapOpenAIError(response.error ?? response, server)
  }
  return response
}

/** Maps an OpenAI error object (`{ message, type, code }`) to this package's error class. */
export function mapOpenAIError(
  error: unknown,
  server: string,
): BackendError | BackendUnavailableError {
  const { message, code } = (error ?? {}) as { message?: unknown; code?: unknown }
  const text = `${server}: ${typeof message === 'string' ? message : JSON.stringify(error)}`
  return code === 503 || code === '503' ? new BackendUnavailableError(text) : new BackendError(text)
}

/**
 * What one response body or streamed event contributes: the first choice's text (`text`, or
 * `message`/`delta` `content`; `null` and role-only deltas count as no text), and where present
 * the finish reason, usage, model and llama-server's timings.
 */
export function mapOpenAIResponse(response: OpenAIResponse): OpenAIPiece {
  const choice = response.choices?.find((c) => (c.index ?? 0) === 0) ?? response.choices?.[0]
  const message = choice?.delta ?? choice?.message
  const text = message != null ? message.content : choice?.text
  const piece: OpenAIPiece = { content: typeof text === 'string' ? text : '' }
  if (typeof message?.reasoning_content === 'string' && message.reasoning_content !== '')
    piece.reasoning_content = message.reasoning_content
  if (typeof choice?.finish_reason === 'string') piece.finish_reason = choice.finish_reason
  if (response.usage != null && typeof response.usage === 'object') piece.usage = response.usage
  if (typeof response.model === 'string') piece.model = response.model
  if (response.timings != null) piece.timings = response.timings
  return piece
}

/**
 * The last chunk of a reply: `stop: true`, the raw `finish_reason`, `usage` and `model`
 * where the server sent them, and usage's counts also as `tokens_predicted`/`tokens_evaluated`
 * (the names llama.cpp's own route uses, which the host's statistics read).
 */
export function convertToFinalChunk(
  content: string,
  final: Omit<OpenAIPiece, 'content'>,
): GenerateChunk {
  const chunk: GenerateChunk = { content, stop: true }
  if (final.reasoning_content != null) chunk.reasoning_content = final.reasoning_content
  if (final.finish_reason != null) chunk.finish_reason = final.finish_reason
  if (final.usage != null) {
    chunk.usage = final.usage
    if (typeof final.usage.completion_tokens === 'number')
      chunk.tokens_predicted = final.usage.completion_tokens
    if (typeof final.usage.prompt_tokens === 'number')
      chunk.tokens_evaluated = final.usage.prompt_tokens
  }
  if (final.model != null) chunk.model = final.model
  if (final.timings != null) chunk.timings = final.timings
  return chunk
}

/** Converts a whole (`stream: false`) response body to the one chunk of the reply. */
export function convertOpenAIResponse(response: unknown, server: string): GenerateChunk {
  if (response == null || typeof response !== 'object' || Array.isArray(response)) {
    throw new BackendError(`${server} answered with something that is not a JSON object`)
  }
  const body = response as OpenAIResponse
  if (body.error != null) throw mapOpenAIError(body.error, server)
  if (!Array.isArray(body.choices) || body.choices.length === 0) {
    throw new BackendError(`${server} answered without choices`)
  }
  const { content, ...final } = mapOpenAIResponse(body)
  return convertToFinalChunk(content, final)
}

/**
 * Converts the server-sent events of a streamed reply into chunks: one `{ content }` per piece
 * of text (empty and role-only deltas are skipped), then one final `{ content: '', stop: true,
 * finish_reason, … }`. The final chunk waits for `data: [DONE]` or the end of the body, because
 * usage arrives in an event of its own after the finish reason (`stream_options.include_usage`).
 * A body that ends with neither a finish reason nor `[DONE]` was cut off: {@link BackendError}.
 */
export async function* convertOpenAIStream(
  events: AsyncIterable<EventSourceMessage>,
  server: string,
): AsyncGenerator<GenerateChunk> {
  const final: Omit<OpenAIPiece, 'content'> = {}
  let done = false
  for await (const event of events) {
    if (event.data.trim() === '[DONE]') {
      done = true
      break
    }
    if (event.data === '') continue
    const { content, ...rest } = mapOpenAIResponse(parseOpenAIEvent(event, server))
    const { reasoning_content, ...figures } = rest
    if (content !== '' || reasoning_content != null) {
      yield reasoning_content != null ? { content, reasoning_content } : { content }
    }
    Object.assign(final, figures)
  }
  if (!done && final.finish_reason == null) {
    throw new BackendError(`${server} ended its stream without finishing the reply`)
  }
  yield convertToFinalChunk('', final)
}

/**
 * Describes the model behind an OpenAI API from its `GET /models` list: `model` is the given
 * name, else the first listed id; `contextSize` comes from what servers add to a model
 * (llama-server's `meta.n_ctx`, vLLM's `max_model_len`, LM Studio's `max_context_length`).
 */
export function convertOpenAIModelList(
  list: unknown,
  options: { model?: string; server: string },
): Pick<ModelInfo, 'model' | 'contextSize'> {
  const data = (list as OpenAIModelList | null)?.data
  const models = Array.isArray(data) ? data : []
  const name = options.model ?? models.find((entry) => typeof entry?.id === 'string')?.id
  if (name == null) {
    throw new BackendError(`${options.server} lists no models; pass the model's name as "model"`)
  }
  const entry = models.find((candidate) => candidate?.id === name)
  const contextSize = contextSizeOf(entry)
  return contextSize != null ? { model: name, contextSize } : { model: name }
}

function contextSizeOf(entry: Record<string, unknown> | undefined): number | undefined {
  const meta = entry?.meta as { n_ctx?: unknown } | undefined
  for (const value of [
    meta?.n_ctx,
    entry?.max_model_len,
    entry?.max_context_length,
    entry?.context_length,
  ]) {
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value
  }
  return undefined
}
