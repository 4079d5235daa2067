import { describe, expect, it } from 'vitest'
import { parseRequest, parseResponseFrame } from '../../src/codec/schemas.ts'

describe('parseRequest', () => {
  it('accepts the original app request and drops unknown fields', () => {
    const request = parseRequest({
      prompt: 'Hi',
      max_tokens: 16,
      temperature: 0.7,
      top_p: 0.9,
      stream: true,
      apiKey: 'k',
      parameters: { seed: 1 },
      extra: 'ignored',
    })
    expect(request).toEqual({
      prompt: 'Hi',
      max_tokens: 16,
      temperature: 0.7,
      top_p: 0.9,
      stream: true,
      apiKey: 'k',
      parameters: { seed: 1 },
    })
  })

  it('accepts chat messages instead of a prompt, and info requests', () => {
    expect(parseRequest({ messages: [{ role: 'user', content: 'Hi' }] })).toMatchObject({
      messages: [{ role: 'user' }],
    })
    expect(parseRequest({ type: 'info' })).toEqual({ type: 'info' })
  })

  it.each([
    [null, 'Invalid request'],
    ['Hi', 'Invalid request'],
    [{}, 'exactly one of'],
    [{ prompt: 'Hi', max_tokens: 0 }, 'max_tokens'],
    [{ prompt: 'Hi', max_tokens: '16' }, 'max_tokens'],
    [{ prompt: 'Hi', temperature: -1 }, 'temperature'],
    [{ prompt: 'Hi', top_p: 1.5 }, 'top_p'],
    [{ prompt: 'Hi', apiKey: 5 }, 'apiKey'],
    [{ messages: [] }, 'messages'],
    [{ messages: [{ role: 'user' }] }, 'messages.0.content'],
    [{ type: 'unknown', prompt: 'Hi' }, 'type'],
    [{ prompt: 'Hi', parameters: [1, 2] }, 'parameters'],
  ])('rejects %j naming the problem', (raw, fragment) => {
    expect(() => parseRequest(raw)).toThrow(
      expect.objectContaining({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining(fragment),
      }),
    )
  })
})

it('keeps error messages short however large the bad value', () => {
  expect(() => parseRequest({ type: 'x'.repeat(100_000) })).toThrow(
    expect.objectContaining({ message: expect.stringMatching(/^.{0,400}$/s) }),
  )
})

describe('parseResponseFrame', () => {
  it('keeps backend fields of success frames', () => {
    expect(
      parseResponseFrame({ success: true, data: { content: 'a', stop: false, timings: { n: 1 } } }),
    ).toEqual({
      success: true,
      data: { content: 'a', stop: false, timings: { n: 1 } },
    })
  })

  it('reads error frames', () => {
    expect(parseResponseFrame({ success: false, error: 'no', code: 'UNAUTHORIZED' })).toEqual({
      success: false,
      error: 'no',
      code: 'UNAUTHORIZED',
    })
  })

  it.each([
    [{ success: true }],
    [{ success: true, data: { content: 1, stop: true } }],
    [{ success: false, error: 'x' }],
    [[]],
  ])('rejects malformed frame %j as a protocol error', (raw) => {
    expect(() => parseResponseFrame(raw)).toThrow(
      expect.objectContaining({ code: 'PROTOCOL_ERROR' }),
    )
  })
})
