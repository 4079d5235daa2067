/** p2p-llm replies to OpenAI bodies and chunks (src/proxy/convert-response.ts). */
import { describe, expect, it } from 'vitest'
import {
  chatChunk,
  chatCompletion,
  finishReasonOf,
  newReplyMeta,
  sseEvent,
  textChunk,
  textCompletion,
  usageChunk,
  usageOf,
} from '../../src/proxy/convert-response.ts'

const meta = { id: 'chatcmpl-1', created: 1_700_000_000, model: 'tiny' }

describe('usageOf', () => {
  it("reads llama.cpp's counts, else an OpenAI usage, else nothing", () => {
    expect(usageOf({ content: '', stop: true, tokens_evaluated: 5, tokens_predicted: 8 })).toEqual({
      prompt_tokens: 5,
      completion_tokens: 8,
      total_tokens: 13,
    })
    expect(
      usageOf({ content: '', stop: true, usage: { prompt_tokens: 3, completion_tokens: 2 } }),
    ).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 })
    expect(usageOf({ content: '', stop: true, tokens_predicted: 4 })).toEqual({
      prompt_tokens: 0,
      completion_tokens: 4,
      total_tokens: 4,
    })
    expect(usageOf({ content: '', stop: true })).toBeUndefined()
    expect(usageOf({ content: '', stop: true, tokens_predicted: -1, usage: 'x' })).toBeUndefined()
  })
})

describe('shapes', () => {
  it('ids: chatcmpl- for chat, cmpl- for completions, created in seconds', () => {
    const chat = newReplyMeta('chat', 'm')
    expect(chat.id).toMatch(/^chatcmpl-[\w-]{24}$/)
    expect(newReplyMeta('completion', 'm').id).toMatch(/^cmpl-/)
    expect(Math.abs(chat.created - Date.now() / 1000)).toBeLessThan(2)
  })

  it('finish reason: the host’s, else stop', () => {
    expect(finishReasonOf({ content: '', stop: true, finish_reason: 'length' })).toBe('length')
    expect(finishReasonOf({ content: '', stop: true })).toBe('stop')
  })

  it('chat.completion, with reasoning where the backend separated it', () => {
    expect(
      chatCompletion(meta, {
        content: 'Hi',
        stop: true,
        reasoning_content: 'think',
        finish_reason: 'stop',
        tokens_evaluated: 1,
        tokens_predicted: 1,
      }),
    ).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'tiny',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hi', reasoning_content: 'think' },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    })
  })

  it('text_completion without usage when the host counted nothing', () => {
    expect(textCompletion(meta, { content: 'Hi', stop: true })).toEqual({
      id: 'chatcmpl-1',
      object: 'text_completion',
      created: 1_700_000_000,
      model: 'tiny',
      choices: [{ text: 'Hi', index: 0, logprobs: null, finish_reason: 'stop' }],
    })
  })

  it('chunks carry usage: null when a usage chunk will follow', () => {
    expect(chatChunk(meta, { content: 'a' }, null, true)).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: 'tiny',
      choices: [{ index: 0, delta: { content: 'a' }, logprobs: null, finish_reason: null }],
      usage: null,
    })
    expect(textChunk(meta, '', 'length', false)).toEqual({
      id: 'chatcmpl-1',
      object: 'text_completion',
      created: 1_700_000_000,
      model: 'tiny',
      choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'length' }],
    })
    expect(
      usageChunk(meta, 'chat', { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }),
    ).toMatchObject({ object: 'chat.completion.chunk', choices: [], usage: { total_tokens: 3 } })
  })

  it('one server-sent event per JSON value', () => {
    expect(sseEvent({ a: 'b\nc' })).toBe('data: {"a":"b\\nc"}\n\n')
  })
})
