/**
 * Errors to OpenAI error replies: `{ error: { message, type, param, code } }` with the HTTP
 * status an OpenAI client maps to its own error classes (`BadRequestError` for 400,
 * `AuthenticationError` for 401, `RateLimitError` for 429, `InternalServerError` for 5xx, …).
 * `code` is this package's wire code, so a client can tell `BACKEND_UNAVAILABLE` from
 * `CONNECTION_FAILED` without parsing messages. Pure: unit-tested alone.
 */
import { ErrorCode, isP2PLLMError } from '../codec/errors.ts'

/** Codes of the proxy's own HTTP layer (no wire code fits them). */
export const ProxyErrorCode = {
  NOT_FOUND: 'NOT_FOUND',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
} as const

/** HTTP status for each wire code; any other code is a 500. */
const statusByCode: Record<string, number> = {
  [ErrorCode.INVALID_REQUEST]: 400,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ProxyErrorCode.NOT_FOUND]: 404,
  [ProxyErrorCode.METHOD_NOT_ALLOWED]: 405,
  [ErrorCode.FRAME_TOO_LARGE]: 413,
  [ErrorCode.TOO_MANY_REQUESTS]: 429,
  [ErrorCode.TOO_MANY_CONNECTIONS]: 429,
  // Upstream failures: the host or its model server did not answer as it should.
  [ErrorCode.BACKEND_ERROR]: 502,
  [ErrorCode.CONNECTION_FAILED]: 502,
  [ErrorCode.PROTOCOL_ERROR]: 502,
  [ErrorCode.BACKEND_UNAVAILABLE]: 503,
  // From a host: it is stopping. From the proxy: it is closing. Either way, try again later.
  [ErrorCode.ABORTED]: 503,
  [ErrorCode.TIMEOUT]: 504,
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string }
}

export interface OpenAIErrorReply {
  status: number
  body: OpenAIErrorBody
  /** Extra response headers (`retry-after` on a 429). */
  headers: Record<string, string>
}

/** The HTTP status for a wire (or proxy) code. */
export function statusOf(code: string): number {
  return statusByCode[code] ?? 500
}

/** OpenAI's error `type` for a status. */
export function errorTypeOf(status: number): string {
  if (status === 401) return 'authentication_error'
  if (status === 429) return 'rate_limit_error'
  if (status >= 500) return 'server_error'
  return 'invalid_request_error'
}

/** Builds an error reply from a code and message. */
export function openAIError(
  code: string,
  message: string,
  param: string | null = null,
): OpenAIErrorReply {
  const status = statusOf(code)
  return {
    status,
    body: { error: { message, type: errorTypeOf(status), param, code } },
    // OpenAI clients wait this long before retrying (the host's queue may have room by then).
    headers: status === 429 ? { 'retry-after': '1' } : {},
  }
}

/**
 * Maps anything thrown while serving a request: this package's errors keep their code and
 * message (and `param`, where the request named a bad field); anything else is a bug in the
 * proxy, reported without its details.
 */
export function toOpenAIError(err: unknown): OpenAIErrorReply {
  if (isP2PLLMError(err)) {
    const param = (err as { param?: unknown }).param
    return openAIError(err.code, err.message, typeof param === 'string' ? param : null)
  }
  return openAIError(ErrorCode.INTERNAL_ERROR, 'Internal error in the p2p-llm proxy')
}
