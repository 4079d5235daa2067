/** OpenAI request bodies to p2p-llm requests (src/proxy/convert-request.ts). */
import { describe, expect, it } from 'vitest'
import { convertChatRequest, convertCompletionRequest } from '../../src/proxy/convert-request.ts'

const messages = [{ role: 'user', content: 'Hi' }]

describe('convertChatRequest', () => {
  it('takes messages and nothing else', () => {
    expect(convertChatRequest({ model: 'gpt-4o', messages })).toEqual({
      params: { messages },
      stream: false,
      includeUsage: false,
    })
  })

  it('maps the sampling fields; stop, seed and unknown fields go to parameters', () => {
    expect(
      convertChatRequest({
        messages,
        max_tokens: 16,
        temperature: 0.5,
        top_p: 0.9,
        stop: 'END',
        seed: 42,
        top_k: 40,
        ignore_eos: true,
        n: 1,
        user: 'someone',
        stream: true,
        stream_options: { include_usage: true },
      }),
    ).toEqual({
      params: {
        messages,
        max_tokens: 16,
        temperature: 0.5,
        top_p: 0.9,
        parameters: { stop: ['END'], seed: 42, top_k: 40, ignore_eos: true },
      },
      stream: true,
      includeUsage: true,
    })
  })

  it('prefers max_completion_tokens; null means absent', () => {
    expect(
      convertChatRequest({
        messages,
        max_tokens: 100,
        max_completion_tokens: 8,
        temperature: null,
        stop: null,
        frequency_penalty: null,
        stream: null,
      }),
    ).toEqual({ params: { messages, max_tokens: 8 }, stream: false, includeUsage: false })
  })

  it('joins text parts, empties null content, keeps every role', () => {
    expect(
      convertChatRequest({
        messages: [
          {
            role: 'system',
            content: [
              { type: 'text', text: 'Be ' },
              { type: 'text', text: 'brief' },
            ],
          },
          { role: 'assistant', content: null, tool_calls: [] },
          { role: 'user', content: 'Hi', name: 'ann' },
        ],
      }).params.messages,
    ).toEqual([
      { role: 'system', content: 'Be brief' },
      { role: 'assistant', content: '' },
      { role: 'user', content: 'Hi' },
    ])
  })

  it.each([
    [[], null, 'the body must be a JSON object'],
    ['text', null, 'the body must be a JSON object'],
    [{}, 'messages', 'messages'],
    [{ messages: [] }, 'messages', 'at least one message'],
    [{ messages: [{ content: 'x' }] }, 'messages[0].role', 'role'],
    [{ messages: [{ role: 'user', content: 5 }] }, 'messages[0].content', 'string or an array'],
    [
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] },
      'messages[0].content[0]',
      'only text parts',
    ],
    [{ messages, max_tokens: 0 }, 'max_tokens', 'max_tokens'],
    [{ messages, max_tokens: 1.5 }, 'max_tokens', 'max_tokens'],
    [{ messages, temperature: -0.1 }, 'temperature', 'temperature'],
    [{ messages, top_p: 2 }, 'top_p', 'top_p'],
    [{ messages, stop: [1] }, 'stop', 'string or an array of strings'],
    [{ messages, n: 3 }, 'n', 'n: 1'],
    [{ messages, stream: 'yes' }, 'stream', 'stream'],
  ])('rejects %j naming %s', (body, param, text) => {
    let thrown: unknown
    try {
      convertChatRequest(body)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toMatchObject({
      name: 'InvalidParameterError',
      code: 'INVALID_REQUEST',
      param,
      message: expect.stringContaining(text),
    })
  })
})

describe('convertCompletionRequest', () => {
  it('takes a prompt string or an array of one string', () => {
    expect(convertCompletionRequest({ prompt: 'Hi', stop: ['a', 'b'] })).toEqual({
      params: { prompt: 'Hi', parameters: { stop: ['a', 'b'] } },
      stream: false,
      includeUsage: false,
    })
    expect(convertCompletionRequest({ prompt: ['Hi'], stream: true }).params).toEqual({
      prompt: 'Hi',
    })
  })

  it.each([
    [{}, 'prompt'],
    [{ prompt: [1, 2] }, 'prompt'],
    [{ prompt: ['a', 'b'] }, 'prompt'],
    [{ prompt: [] }, 'prompt'],
  ])('rejects %j', (body, param) => {
    expect(() => convertCompletionRequest(body)).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST', param }),
    )
  })
})
