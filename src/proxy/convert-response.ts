/**
 * p2p-llm replies to OpenAI response bodies and stream chunks, in the exact shapes OpenAI sends
 * (`chat.completion`, `chat.completion.chunk`, `text_completion`, `list`). Pure functions: no
 * I/O, unit-tested alone.
 */
import { randomBytes } from 'node:crypto'
import type { CompletionChunk, CompletionResult } from '../guest/remote-model.ts'
import { MODEL_OWNER } from './constants.ts'

/** What every body and chunk of one reply shares. */
export interface ReplyMeta {
  /** `chatcmpl-…` or `cmpl-…`, the same on every chunk of a stream. */
  id: string
  /** Unix time in seconds. */
  created: number
  model: string
}

export interface OpenAIUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export type Route = 'chat' | 'completion'

export function newReplyMeta(route: Route, model: string): ReplyMeta {
  return {
    id: `${route === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(18).toString('base64url')}`,
    created: Math.floor(Date.now() / 1000),
    model,
  }
}

/**
 * Token counts from a reply's last piece: llama.cpp's `tokens_evaluated`/`tokens_predicted`,
 * else an OpenAI-style `usage` a backend passed on. Undefined when the host reported neither
 * (a custom backend may not count tokens).
 */
export function usageOf(data: CompletionResult): OpenAIUsage | undefined {
  const usage = (isRecord(data.usage) ? data.usage : {}) as Record<string, unknown>
  const prompt = count(data.tokens_evaluated) ?? count(usage.prompt_tokens)
  const completion = count(data.tokens_predicted) ?? count(usage.completion_tokens)
  if (prompt == null && completion == null) return undefined
  return {
    prompt_tokens: prompt ?? 0,
    completion_tokens: completion ?? 0,
    total_tokens: (prompt ?? 0) + (completion ?? 0),
  }
}

/** The reply's finish reason as the host reported it (`stop`, `length`, …); `stop` when none. */
export function finishReasonOf(data: CompletionResult): string {
  return typeof data.finish_reason === 'string' && data.finish_reason !== ''
    ? data.finish_reason
    : 'stop'
}

/** A whole chat reply: `chat.completion`. */
export function chatCompletion(meta: ReplyMeta, data: CompletionResult): Record<string, unknown> {
  const usage = usageOf(data)
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: data.content, ...reasoningOf(data) },
        logprobs: null,
        finish_reason: finishReasonOf(data),
      },
    ],
    ...(usage != null ? { usage } : {}),
  }
}

/** A whole text completion: `text_completion`. */
export function textCompletion(meta: ReplyMeta, data: CompletionResult): Record<string, unknown> {
  const usage = usageOf(data)
  return {
    id: meta.id,
    object: 'text_completion',
    created: meta.created,
    model: meta.model,
    choices: [
      { text: data.content, index: 0, logprobs: null, finish_reason: finishReasonOf(data) },
    ],
    ...(usage != null ? { usage } : {}),
  }
}

/**
 * One chunk of a streamed chat reply. `usage: null` on every chunk when the client asked for a
 * usage chunk at the end, as OpenAI does.
 */
export function chatChunk(
  meta: ReplyMeta,
  delta: Record<string, unknown>,
  finishReason: string | null,
  includeUsage: boolean,
): Record<string, unknown> {
  return {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  }
}

/** The delta of a streamed piece: its text (and reasoning, where the backend separates it). */
export function chatDelta(chunk: CompletionChunk): Record<string, unknown> {
  return { content: chunk.content, ...reasoningOf(chunk) }
}

/** One chunk of a streamed text completion. */
export function textChunk(
  meta: ReplyMeta,
  text: string,
  finishReason: string | null,
  includeUsage: boolean,
): Record<string, unknown> {
  return {
    id: meta.id,
    object: 'text_completion',
    created: meta.created,
    model: meta.model,
    choices: [{ text, index: 0, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  }
}

/** The extra last chunk of a stream with `stream_options.include_usage`: no choices, the usage. */
export function usageChunk(
  meta: ReplyMeta,
  route: Route,
  usage: OpenAIUsage,
): Record<string, unknown> {
  return {
    id: meta.id,
    object: route === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created: meta.created,
    model: meta.model,
    choices: [],
    usage,
  }
}

/** `GET /v1/models`: the one shared model. */
export function modelList(model: string, created: number): Record<string, unknown> {
  return { object: 'list', data: [modelObject(model, created)] }
}

/** `GET /v1/models/{model}`. */
export function modelObject(model: string, created: number): Record<string, unknown> {
  return { id: model, object: 'model', created, owned_by: MODEL_OWNER }
}

/** One server-sent event carrying `data` as JSON. */
export function sseEvent(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`
}

export const SSE_DONE = 'data: [DONE]\n\n'

/** Reasoning models (llama-server, vLLM, DeepSeek) keep the thinking apart from the answer. */
function reasoningOf(data: CompletionChunk): { reasoning_content?: string } {
  return typeof data.reasoning_content === 'string' && data.reasoning_content !== ''
    ? { reasoning_content: data.reasoning_content }
    : {}
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value != null && typeof value === 'object' && !Array.isArray(value)
}
