/**
 * Error classes shared by host and guest. Each carries a stable `code` that travels on the
 * wire (`{success:false, error, code}`); match errors by `name` or `code`, never with
 * `instanceof` alone, so two installed copies of this package still agree.
 */

/** The stable codes of the wire protocol (see docs/protocol.md). */
export const ErrorCode = {
  INVALID_REQUEST: 'INVALID_REQUEST',
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  UNAUTHORIZED: 'UNAUTHORIZED',
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
  TOO_MANY_REQUESTS: 'TOO_MANY_REQUESTS',
  BACKEND_UNAVAILABLE: 'BACKEND_UNAVAILABLE',
  BACKEND_ERROR: 'BACKEND_ERROR',
  TIMEOUT: 'TIMEOUT',
  ABORTED: 'ABORTED',
  /** The remote peer broke the protocol: a malformed frame, a stream that ended early. */
  PROTOCOL_ERROR: 'PROTOCOL_ERROR',
  /** The guest could not reach the host (dial failed, connection lost). */
  CONNECTION_FAILED: 'CONNECTION_FAILED',
  /** An unexpected failure inside the host. */
  INTERNAL_ERROR: 'INTERNAL_ERROR',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export interface P2PLLMErrorOptions {
  cause?: unknown
}

/** Root of every error this package throws; `code` is the wire code. */
export class P2PLLMError extends Error {
  static override name = 'P2PLLMError'
  override name = 'P2PLLMError'
  /** A stable code: one of {@link ErrorCode}, or a code a newer host sent that we do not know. */
  readonly code: string

  constructor(
    message: string,
    code: string = ErrorCode.INTERNAL_ERROR,
    options?: P2PLLMErrorOptions,
  ) {
    super(message, options)
    this.code = code
  }
}

/** Thrown when a request is malformed: not JSON, wrong field types, no prompt, … */
export class InvalidRequestError extends P2PLLMError {
  static override name = 'InvalidRequestError'
  override name = 'InvalidRequestError'
  constructor(message = 'Invalid request', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.INVALID_REQUEST, options)
  }
}

/** Thrown when a frame is larger than the receiver's `maxFrameSize`. */
export class FrameTooLargeError extends P2PLLMError {
  static override name = 'FrameTooLargeError'
  override name = 'FrameTooLargeError'
  constructor(message = 'Frame too large', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.FRAME_TOO_LARGE, options)
  }
}

/** Thrown when the host requires an API key and the request's key is missing or wrong. */
export class UnauthorizedError extends P2PLLMError {
  static override name = 'UnauthorizedError'
  override name = 'UnauthorizedError'
  constructor(message = 'Unauthorized', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.UNAUTHORIZED, options)
  }
}

/** Thrown when the host already serves its maximum number of guests. */
export class TooManyConnectionsError extends P2PLLMError {
  static override name = 'TooManyConnectionsError'
  override name = 'TooManyConnectionsError'
  constructor(message = 'Too many connections', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.TOO_MANY_CONNECTIONS, options)
  }
}

/** Thrown when a guest has more requests in flight than the host allows. */
export class TooManyRequestsError extends P2PLLMError {
  static override name = 'TooManyRequestsError'
  override name = 'TooManyRequestsError'
  constructor(message = 'Too many requests', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.TOO_MANY_REQUESTS, options)
  }
}

/** Thrown when the host's model backend cannot be reached (server down, socket missing). */
export class BackendUnavailableError extends P2PLLMError {
  static override name = 'BackendUnavailableError'
  override name = 'BackendUnavailableError'
  constructor(message = 'Backend unavailable', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.BACKEND_UNAVAILABLE, options)
  }
}

/** Thrown when the host's model backend answered with an error or broke off mid-reply. */
export class BackendError extends P2PLLMError {
  static override name = 'BackendError'
  override name = 'BackendError'
  constructor(message = 'Backend error', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.BACKEND_ERROR, options)
  }
}

/** Thrown when a request took longer than a configured timeout (distinct from an abort). */
export class TimeoutError extends P2PLLMError {
  static override name = 'TimeoutError'
  override name = 'TimeoutError'
  constructor(message = 'Timed out', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.TIMEOUT, options)
  }
}

/** Thrown when the caller aborted (their `AbortSignal` fired) or the host cancelled. */
export class AbortError extends P2PLLMError {
  static override name = 'AbortError'
  override name = 'AbortError'
  constructor(message = 'Aborted', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.ABORTED, options)
  }
}

/** Thrown when the remote peer broke the protocol: malformed frame, stream ended early. */
export class ProtocolError extends P2PLLMError {
  static override name = 'ProtocolError'
  override name = 'ProtocolError'
  constructor(message = 'Protocol error', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.PROTOCOL_ERROR, options)
  }
}

/** Thrown when the guest cannot reach the host or loses its connection. */
export class ConnectionError extends P2PLLMError {
  static override name = 'ConnectionError'
  override name = 'ConnectionError'
  constructor(message = 'Connection failed', options?: P2PLLMErrorOptions) {
    super(message, ErrorCode.CONNECTION_FAILED, options)
  }
}

const classByCode: Record<
  string,
  new (
    message?: string,
    options?: P2PLLMErrorOptions,
  ) => P2PLLMError
> = {
  [ErrorCode.INVALID_REQUEST]: InvalidRequestError,
  [ErrorCode.FRAME_TOO_LARGE]: FrameTooLargeError,
  [ErrorCode.UNAUTHORIZED]: UnauthorizedError,
  [ErrorCode.TOO_MANY_CONNECTIONS]: TooManyConnectionsError,
  [ErrorCode.TOO_MANY_REQUESTS]: TooManyRequestsError,
  [ErrorCode.BACKEND_UNAVAILABLE]: BackendUnavailableError,
  [ErrorCode.BACKEND_ERROR]: BackendError,
  [ErrorCode.TIMEOUT]: TimeoutError,
  [ErrorCode.ABORTED]: AbortError,
  [ErrorCode.PROTOCOL_ERROR]: ProtocolError,
  [ErrorCode.CONNECTION_FAILED]: ConnectionError,
}

/** Builds the error class for a wire error frame; unknown codes keep their code on the root class. */
export function errorFromCode(
  code: string,
  message: string,
  options?: P2PLLMErrorOptions,
): P2PLLMError {
  const ErrorClass = classByCode[code]
  return ErrorClass != null
    ? new ErrorClass(message, options)
    : new P2PLLMError(message, code, options)
}

const knownCodes = new Set<string>(Object.values(ErrorCode))

/**
 * True for errors of this package, including ones from another installed copy of it (matched
 * by a known wire code, not by `instanceof`).
 */
export function isP2PLLMError(err: unknown): err is P2PLLMError {
  return (
    err instanceof P2PLLMError ||
    (err instanceof Error && knownCodes.has((err as { code?: unknown }).code as string))
  )
}
