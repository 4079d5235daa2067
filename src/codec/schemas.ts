/**
 * Schemas of every frame on `/llama/1.0.0`. Peer data is only ever trusted after it passed
 * one of these (and the frame size cap in ./frames.ts).
 */
import * as v from 'valibot'
import { InvalidRequestError, ProtocolError } from './errors.ts'

const finiteNumber = v.pipe(v.number(), v.finite())

/** One chat turn: `messages` may replace `prompt` in a request. */
export const ChatMessageSchema = v.object({
  role: v.pipe(v.string(), v.minLength(1)),
  content: v.string(),
})

/**
 * A generation request. Fields come from the original Electron app; all but `prompt` (or
 * `messages`) are optional. Unknown top-level fields are dropped, so older and newer guests
 * can talk to this host.
 */
export const CompletionRequestSchema = v.pipe(
  v.object({
    /** Request kind; absent means a completion. */
    type: v.optional(v.literal('completion')),
    prompt: v.optional(v.string()),
    messages: v.optional(v.pipe(v.array(ChatMessageSchema), v.minLength(1))),
    max_tokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    temperature: v.optional(v.pipe(finiteNumber, v.minValue(0))),
    top_p: v.optional(v.pipe(finiteNumber, v.minValue(0), v.maxValue(1))),
    stream: v.optional(v.boolean()),
    apiKey: v.optional(v.string()),
    /** Passed to the backend as is (for llama.cpp: any `/completion` field). */
    parameters: v.optional(
      v.custom<Record<string, unknown>>(
        (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
        'parameters must be an object',
      ),
    ),
  }),
  v.check(
    (request) => (request.prompt === undefined) !== (request.messages === undefined),
    'a request needs exactly one of "prompt" (string) or "messages" (array)',
  ),
)

/** Asks for the model's description instead of a generation. */
export const InfoRequestSchema = v.object({
  type: v.literal('info'),
  apiKey: v.optional(v.string()),
})

export const RequestSchema = v.union([CompletionRequestSchema, InfoRequestSchema])

/** A success frame's `data`: always `content` and `stop`, plus the backend's own fields. */
export const ResponseDataSchema = v.looseObject({
  content: v.string(),
  stop: v.boolean(),
})

export const SuccessFrameSchema = v.object({
  success: v.literal(true),
  data: ResponseDataSchema,
})

export const ErrorFrameSchema = v.object({
  success: v.literal(false),
  error: v.string(),
  code: v.string(),
})

export const ResponseFrameSchema = v.variant('success', [SuccessFrameSchema, ErrorFrameSchema])

export type ChatMessage = v.InferOutput<typeof ChatMessageSchema>
export type CompletionRequest = v.InferOutput<typeof CompletionRequestSchema>
export type InfoRequest = v.InferOutput<typeof InfoRequestSchema>
export type Request = v.InferOutput<typeof RequestSchema>
export type ResponseData = v.InferOutput<typeof ResponseDataSchema>
export type SuccessFrame = v.InferOutput<typeof SuccessFrameSchema>
export type ErrorFrame = v.InferOutput<typeof ErrorFrameSchema>
export type ResponseFrame = v.InferOutput<typeof ResponseFrameSchema>

/** Turns valibot issues into one readable line, naming the offending field. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .map((issue) => {
      const path = v.getDotPath(issue)
      // Messages quote the offending value: cap them, so an error frame stays small however
      // large the bad field was.
      const message = issue.message.length > 200 ? `${issue.message.slice(0, 200)}…` : issue.message
      return path != null && path !== '' ? `${path}: ${message}` : message
    })
    .join('; ')
}

/**
 * Validates a decoded request frame. Dispatches on `type` first so a bad completion reports
 * its own field errors rather than a union's.
 */
export function parseRequest(raw: unknown): Request {
  const isInfo =
    typeof raw === 'object' && raw != null && (raw as { type?: unknown }).type === 'info'
  const result = isInfo
    ? v.safeParse(InfoRequestSchema, raw)
    : v.safeParse(CompletionRequestSchema, raw)
  if (!result.success)
    throw new InvalidRequestError(`Invalid request: ${describeIssues(result.issues)}`)
  return result.output
}

/** Validates a decoded response frame (guest side). */
export function parseResponseFrame(raw: unknown): ResponseFrame {
  const result = v.safeParse(ResponseFrameSchema, raw)
  if (!result.success)
    throw new ProtocolError(`Malformed response frame: ${describeIssues(result.issues)}`)
  return result.output
}
