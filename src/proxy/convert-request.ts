/**
 * OpenAI request bodies (`/v1/chat/completions`, `/v1/completions`) to p2p-llm requests. Pure
 * functions: no I/O, unit-tested alone.
 *
 * OpenAI's sampling fields map to the wire request's own (`max_tokens`, `temperature`,
 * `top_p`); `stop` and `seed` and every field this file does not know go to `parameters`,
 * which the host hands to its backend as they are (llama.cpp takes `top_k`, `ignore_eos`,
 * `presence_penalty`, … there). `null` means "not given", as OpenAI clients send it.
 */
import * as v from 'valibot'
import type { ChatMessage } from '../codec/schemas.ts'
import type { ChatParams, CompletionParams } from '../guest/remote-model.ts'
import { InvalidParameterError } from './errors.ts'

/** What the proxy asks the shared model for, and how to answer the HTTP client. */
export interface ProxyRequest<Params> {
  params: Params
  /** Answer with server-sent events. */
  stream: boolean
  /** Streamed: end with a usage chunk (`stream_options.include_usage`). */
  includeUsage: boolean
}

export type ChatRequest = ProxyRequest<ChatParams>
export type TextRequest = ProxyRequest<CompletionParams>

const positiveInteger = v.pipe(v.number(), v.integer(), v.minValue(1))
const finiteNumber = v.pipe(v.number(), v.finite())

/** Fields both routes share. The proxy consumes them; they never reach `parameters` as such. */
const commonFields = {
  /** The host decides the model; a client's choice is accepted and ignored. */
  model: v.nullish(v.string()),
  stream: v.nullish(v.boolean()),
  stream_options: v.nullish(v.looseObject({ include_usage: v.nullish(v.boolean()) })),
  max_tokens: v.nullish(positiveInteger),
  max_completion_tokens: v.nullish(positiveInteger),
  temperature: v.nullish(v.pipe(finiteNumber, v.minValue(0))),
  top_p: v.nullish(v.pipe(finiteNumber, v.minValue(0), v.maxValue(1))),
  stop: v.nullish(
    v.union([v.string(), v.array(v.string())], 'must be a string or an array of strings'),
  ),
  seed: v.nullish(v.pipe(v.number(), v.integer())),
  n: v.nullish(v.literal(1, 'only one choice per request (n: 1) is supported')),
  /** OpenAI's end-user id, for its abuse monitoring: nothing to do with it here. */
  user: v.nullish(v.string()),
}

const ContentPartSchema = v.looseObject({ type: v.string(), text: v.optional(v.string()) })

const MessageSchema = v.looseObject({
  role: v.pipe(v.string(), v.minLength(1)),
  content: v.nullish(
    v.union([v.string(), v.array(ContentPartSchema)], 'must be a string or an array of parts'),
  ),
})

const ChatBodySchema = v.looseObject({
  ...commonFields,
  messages: v.pipe(v.array(MessageSchema), v.minLength(1, 'needs at least one message')),
})

const CompletionBodySchema = v.looseObject({
  ...commonFields,
  prompt: v.union(
    [
      v.string(),
      v.pipe(
        v.array(v.string()),
        v.length(1, 'must be a string or an array of one string (batches are not supported)'),
      ),
    ],
    'must be a string or an array of one string (token arrays and batches are not supported)',
  ),
})

const consumed = new Set([...Object.keys(commonFields), 'messages', 'prompt'])

/** Converts a `/v1/chat/completions` body. Throws {@link InvalidParameterError}. */
export function convertChatRequest(body: unknown): ChatRequest {
  const parsed = parse(ChatBodySchema, body)
  const messages = parsed.messages.map(
    (message, index): ChatMessage => ({
      role: message.role,
      content: textOf(message.content, `messages[${index}].content`),
    }),
  )
  return {
    params: { messages, ...samplingOf(parsed), ...parametersOf(parsed) },
    stream: parsed.stream === true,
    includeUsage: parsed.stream_options?.include_usage === true,
  }
}

/** Converts a `/v1/completions` body. Throws {@link InvalidParameterError}. */
export function convertCompletionRequest(body: unknown): TextRequest {
  const parsed = parse(CompletionBodySchema, body)
  const prompt = typeof parsed.prompt === 'string' ? parsed.prompt : (parsed.prompt[0] as string)
  return {
    params: { prompt, ...samplingOf(parsed), ...parametersOf(parsed) },
    stream: parsed.stream === true,
    includeUsage: parsed.stream_options?.include_usage === true,
  }
}

type CommonFields = v.InferOutput<v.ObjectSchema<typeof commonFields, undefined>>

function samplingOf(
  body: CommonFields,
): Pick<CompletionParams, 'max_tokens' | 'temperature' | 'top_p'> {
  const sampling: Pick<CompletionParams, 'max_tokens' | 'temperature' | 'top_p'> = {}
  // max_completion_tokens is OpenAI's newer name for max_tokens; it wins when both are given.
  const maxTokens = body.max_completion_tokens ?? body.max_tokens
  if (maxTokens != null) sampling.max_tokens = maxTokens
  if (body.temperature != null) sampling.temperature = body.temperature
  if (body.top_p != null) sampling.top_p = body.top_p
  return sampling
}

/** `stop`, `seed` and every unknown non-null field, as the request's `parameters`. */
function parametersOf(
  body: Record<string, unknown> & CommonFields,
): Pick<CompletionParams, 'parameters'> {
  const parameters: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(body)) {
    if (!consumed.has(field) && value != null) parameters[field] = value
  }
  // llama.cpp's /completion takes only an array; every OpenAI server takes one too.
  if (body.stop != null) parameters.stop = typeof body.stop === 'string' ? [body.stop] : body.stop
  if (body.seed != null) parameters.seed = body.seed
  return Object.keys(parameters).length > 0 ? { parameters } : {}
}

/** A message's text: a string, or the text parts of a part array joined. Null is empty. */
function textOf(content: v.InferOutput<typeof MessageSchema>['content'], param: string): string {
  if (content == null) return ''
  if (typeof content === 'string') return content
  return content
    .map((part, index) => {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw new InvalidParameterError(
          `Invalid request: ${param}[${index}]: only text parts are supported, not "${part.type}"`,
          `${param}[${index}]`,
        )
      }
      return part.text
    })
    .join('')
}

function parse<const Schema extends v.GenericSchema>(
  schema: Schema,
  body: unknown,
): v.InferOutput<Schema> {
  if (body == null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidParameterError('Invalid request: the body must be a JSON object', null)
  }
  const result = v.safeParse(schema, body)
  if (result.success) return result.output
  const issue = result.issues[0]
  const param = paramOf(issue)
  throw new InvalidParameterError(
    `Invalid request: ${param != null ? `${param}: ` : ''}${issue.message}`,
    param,
  )
}

/** OpenAI's way of naming a field: `messages[0].content`. */
function paramOf(issue: v.BaseIssue<unknown>): string | null {
  const keys = issue.path?.map((item) => item.key) ?? []
  if (keys.length === 0) return null
  return keys
    .map((key, index) =>
      typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`,
    )
    .join('')
}
