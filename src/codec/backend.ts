/**
 * The interface a model backend implements so a host can share it. Types only: backends and
 * the host both import it, neither imports the other.
 *
 * Shaped after the Vercel AI SDK's language-model providers: one streaming-first call with one
 * options object and an `AbortSignal`, backend-specific settings passed through untouched.
 */
import type { ChatMessage } from './schemas.ts'

/** Version of this interface; bumped only for incompatible changes. */
export type BackendSpecificationVersion = 'p2p-llm.backend.v1'

/** What the host asks a backend to generate: the validated wire request minus transport fields. */
export interface GenerateRequest {
  /** A plain completion prompt. Exactly one of `prompt` and `messages` is set. */
  prompt?: string
  /** A chat history, for chat-capable backends. */
  messages?: ChatMessage[]
  max_tokens?: number
  temperature?: number
  top_p?: number
  /**
   * Whether the guest wants pieces as they are generated. A hint only: a backend may answer
   * `false` with one whole chunk (one HTTP call, no server-sent events) and `true` with many.
   */
  stream?: boolean
  /** Backend-specific fields from the guest, passed through as they are. */
  parameters?: Record<string, unknown>
}

/**
 * One generated piece. `content` is the new text; a backend may add its own JSON-safe fields
 * (token counts, timings, …), which reach the guest in the frame's `data`. The last chunk may
 * set `stop: true` and carry the final figures; if none does, the host ends the reply with an
 * empty `stop: true` frame itself.
 */
export interface GenerateChunk {
  content: string
  stop?: boolean
  /** Why generation ended, on the last chunk: `stop` (end of sequence / stop word), `length`, … */
  finish_reason?: string
  [field: string]: unknown
}

export interface GenerateOptions {
  /** Fires when the guest cancels, vanishes or times out: stop generating at once. */
  signal: AbortSignal
}

/** What a backend says about its model; `model` is the only required field. */
export interface ModelInfo {
  /** The model's name or file. */
  model: string
  /** Context window in tokens, where known. */
  contextSize?: number
  /** E.g. `['completion', 'chat', 'stream']`. */
  capabilities?: string[]
  [field: string]: unknown
}

export interface BackendCallOptions {
  signal?: AbortSignal
}

/**
 * A model backend. The minimal backend is an object with `generate`. Errors it throws should be
 * this package's error classes — `BackendUnavailableError` when the model cannot be reached,
 * `BackendError` when it failed — anything else reaches the guest as `BACKEND_ERROR`.
 */
export interface ModelBackend {
  readonly specificationVersion?: BackendSpecificationVersion
  /** A short name for logs and model info, e.g. `llama.cpp`. */
  readonly provider?: string
  /** Generates a reply, piece by piece. Must stop promptly when `options.signal` aborts. */
  generate(request: GenerateRequest, options: GenerateOptions): AsyncIterable<GenerateChunk>
  /** Describes the model. */
  info?(options?: BackendCallOptions): Promise<ModelInfo>
  /** Resolves when the backend can serve; rejects (ideally with `BackendUnavailableError`) otherwise. */
  health?(options?: BackendCallOptions): Promise<void>
  /** Releases what the backend holds (in-process models, sockets). */
  close?(): Promise<void>
}
