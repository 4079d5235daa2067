/** Errors to OpenAI error replies (src/proxy/map-error.ts). */
import { describe, expect, it } from 'vitest'
import { errorFromCode, P2PLLMError } from '../../src/index.ts'
import { InvalidParameterError } from '../../src/proxy/errors.ts'
import { statusOf, toOpenAIError } from '../../src/proxy/map-error.ts'

describe('toOpenAIError', () => {
  it.each([
    ['INVALID_REQUEST', 400, 'invalid_request_error'],
    ['UNAUTHORIZED', 401, 'authentication_error'],
    ['NOT_FOUND', 404, 'invalid_request_error'],
    ['METHOD_NOT_ALLOWED', 405, 'invalid_request_error'],
    ['FRAME_TOO_LARGE', 413, 'invalid_request_error'],
    ['TOO_MANY_REQUESTS', 429, 'rate_limit_error'],
    ['TOO_MANY_CONNECTIONS', 429, 'rate_limit_error'],
    ['CONNECTION_FAILED', 502, 'server_error'],
    ['BACKEND_ERROR', 502, 'server_error'],
    ['PROTOCOL_ERROR', 502, 'server_error'],
    ['BACKEND_UNAVAILABLE', 503, 'server_error'],
    ['ABORTED', 503, 'server_error'],
    ['TIMEOUT', 504, 'server_error'],
    ['INTERNAL_ERROR', 500, 'server_error'],
    ['SOMETHING_NEWER', 500, 'server_error'],
  ])('%s → %d %s', (code, status, type) => {
    const reply = toOpenAIError(errorFromCode(code, 'what happened'))
    expect(reply.status).toBe(status)
    expect(statusOf(code)).toBe(status)
    expect(reply.body).toEqual({ error: { message: 'what happened', type, param: null, code } })
    expect(reply.headers).toEqual(status === 429 ? { 'retry-after': '1' } : {})
  })

  it('keeps the field a bad request named', () => {
    expect(
      toOpenAIError(new InvalidParameterError('Invalid request: top_p: too big', 'top_p')).body,
    ).toEqual({
      error: {
        message: 'Invalid request: top_p: too big',
        type: 'invalid_request_error',
        param: 'top_p',
        code: 'INVALID_REQUEST',
      },
    })
  })

  it('hides the details of anything else (a bug) behind a 500', () => {
    expect(toOpenAIError(new TypeError('x is undefined'))).toEqual({
      status: 500,
      body: {
        error: {
          message: 'Internal error in the p2p-llm proxy',
          type: 'server_error',
          param: null,
          code: 'INTERNAL_ERROR',
        },
      },
      headers: {},
    })
    expect(toOpenAIError(new P2PLLMError('custom', 'NOT_FOUND')).status).toBe(404)
  })
})
