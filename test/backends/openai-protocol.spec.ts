/** Unit tests of the OpenAI conversions; the bodies are what llama-server, Ollama and OpenAI send. */
import { describe, expect, it } from 'vitest'
import type { GenerateChunk } from '../../src/backends/index.ts'
import {
  convertOpenAIModelList,
  convertOpenAIResponse,
  convertOpenAIStream,
  convertToOpenAIRequest,
  mapOpenAIResponse,
} from '../../src/backends/openai-protocol.ts'
import { readServerSentEvents } from '../../src/backends/sse.ts'

const SERVER = 'test server'

/** Runs a `text/event-stream` body (split where given) through the stream conversion. */
async function convertStream(...parts: string[]): Promise<GenerateChunk[]> {
  const body = (async function* () {
    yield* parts
  })()
  const chunks: GenerateChunk[] = []
  for await (const chunk of convertOpenAIStream(readServerSentEvents(body), SERVER))
    chunks.push(chunk)
  return chunks
}

const event = (data: unknown): string =>
  `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`
const delta = (content: string | null, extra: Record<string, unknown> = {}) => ({
  object: 'chat.completion.chunk',
  choices: [{ index: 0, delta: { content }, finish_reason: null }],
  ...extra,
})

describe('convertToOpenAIRequest', () => {
  it('sends a prompt to /completions with the sampling fields and parameters', () => {
    expect(
      convertToOpenAIRequest(
        {
          prompt: 'Hi',
          max_tokens: 16,
          temperature: 0.5,
          top_p: 0.9,
          stream: false,
          parameters: { seed: 1, top_k: 5 },
        },
        { stream: false },
      ),
    ).toEqual({
      route: '/completions',
      body: {
        seed: 1,
        top_k: 5,
        prompt: 'Hi',
        max_tokens: 16,
        temperature: 0.5,
        top_p: 0.9,
        stream: false,
      },
    })
  })

  it('sends messages to /chat/completions, role and content only', () => {
    const messages = [
      { role: 'system', content: 'Be brief' },
      { role: 'user', content: 'Hi', name: 'extra' } as { role: string; content: string },
    ]
    expect(convertToOpenAIRequest({ messages }, { stream: false, model: 'llama3' })).toEqual({
      route: '/chat/completions',
      body: {
        model: 'llama3',
        messages: [
          { role: 'system', content: 'Be brief' },
          { role: 'user', content: 'Hi' },
        ],
        stream: false,
      },
    })
  })

  it('asks a stream for usage unless told not to', () => {
    expect(convertToOpenAIRequest({ prompt: 'Hi' }, { stream: true }).body).toEqual({
      prompt: 'Hi',
      stream: true,
      stream_options: { include_usage: true },
    })
    expect(
      convertToOpenAIRequest({ prompt: 'Hi' }, { stream: true, includeUsage: false }).body,
    ).toEqual({ prompt: 'Hi', stream: true })
  })

  it('lets its own fields and the host model win over parameters', () => {
    const { body } = convertToOpenAIRequest(
      {
        prompt: 'Hi',
        max_tokens: 4,
        parameters: {
          model: 'other',
          stream: true,
          prompt: 'not this',
          max_tokens: 99,
          stream_options: { include_usage: false, continuous_usage_stats: true },
        },
      },
      { stream: false, model: 'mine' },
    )
    expect(body).toEqual({ model: 'mine', prompt: 'Hi', max_tokens: 4, stream: false })
    const streamed = convertToOpenAIRequest(
      { prompt: 'Hi', parameters: { stream_options: { continuous_usage_stats: true } } },
      { stream: true },
    )
    expect(streamed.body.stream_options).toEqual({
      continuous_usage_stats: true,
      include_usage: true,
    })
  })

  it('keeps a guest model when the host named none', () => {
    const { body } = convertToOpenAIRequest(
      { prompt: 'Hi', parameters: { model: 'theirs' } },
      { stream: false },
    )
    expect(body.model).toBe('theirs')
  })

  it('refuses a request with neither prompt nor messages', () => {
    expect(() => convertToOpenAIRequest({}, { stream: false })).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST' }),
    )
  })
})

describe('mapOpenAIResponse', () => {
  it('reads text, delta and message content; null and role-only count as none', () => {
    expect(mapOpenAIResponse({ choices: [{ text: ' Pe', finish_reason: null }] })).toEqual({
      content: ' Pe',
    })
    expect(
      mapOpenAIResponse({ choices: [{ delta: { role: 'assistant', content: null } }] }),
    ).toEqual({ content: '' })
    expect(mapOpenAIResponse({ choices: [{ delta: { role: 'assistant' } }] })).toEqual({
      content: '',
    })
    expect(
      mapOpenAIResponse({
        model: 'm',
        choices: [{ message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
        timings: { predicted_n: 1 },
      }),
    ).toEqual({
      content: 'Hello',
      finish_reason: 'stop',
      model: 'm',
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
      timings: { predicted_n: 1 },
    })
  })

  it('takes the first choice and survives an empty choices list (usage event)', () => {
    expect(
      mapOpenAIResponse({
        choices: [
          { index: 1, delta: { content: 'b' } },
          { index: 0, delta: { content: 'a' } },
        ],
      }).content,
    ).toBe('a')
    expect(mapOpenAIResponse({ choices: [], usage: { completion_tokens: 2 } })).toEqual({
      content: '',
      usage: { completion_tokens: 2 },
    })
  })

  it('keeps reasoning apart from the answer', () => {
    expect(
      mapOpenAIResponse({ choices: [{ delta: { content: null, reasoning_content: 'Hmm' } }] }),
    ).toEqual({ content: '', reasoning_content: 'Hmm' })
  })
})

describe('convertOpenAIResponse', () => {
  it('turns a chat completion into one final chunk', () => {
    expect(
      convertOpenAIResponse(
        {
          object: 'chat.completion',
          model: 'tiny.gguf',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: ' Peer to peer' },
              finish_reason: 'length',
            },
          ],
          usage: { prompt_tokens: 32, completion_tokens: 3, total_tokens: 35 },
        },
        SERVER,
      ),
    ).toEqual({
      content: ' Peer to peer',
      stop: true,
      finish_reason: 'length',
      model: 'tiny.gguf',
      usage: { prompt_tokens: 32, completion_tokens: 3, total_tokens: 35 },
      tokens_predicted: 3,
      tokens_evaluated: 32,
    })
  })

  it('turns a text completion into one final chunk', () => {
    expect(
      convertOpenAIResponse({ choices: [{ text: 'Hi', finish_reason: 'stop' }] }, SERVER),
    ).toEqual({ content: 'Hi', stop: true, finish_reason: 'stop' })
  })

  it('gives a tool-call reply (null content) as empty text', () => {
    expect(
      convertOpenAIResponse(
        {
          choices: [{ message: { role: 'assistant', content: null }, finish_reason: 'tool_calls' }],
        },
        SERVER,
      ),
    ).toEqual({ content: '', stop: true, finish_reason: 'tool_calls' })
  })

  it('rejects error bodies, bodies without choices and non-objects', () => {
    expect(() =>
      convertOpenAIResponse({ error: { message: 'model not found', type: 'x' } }, SERVER),
    ).toThrow(
      expect.objectContaining({
        name: 'BackendError',
        message: 'test server: model not found',
      }),
    )
    expect(() => convertOpenAIResponse({ choices: [] }, SERVER)).toThrow(
      expect.objectContaining({
        name: 'BackendError',
        message: 'test server answered without choices',
      }),
    )
    expect(() => convertOpenAIResponse([1], SERVER)).toThrow(
      expect.objectContaining({ name: 'BackendError' }),
    )
  })
})

describe('convertOpenAIStream', () => {
  it('skips the role-only first delta and waits for the usage event after the finish', async () => {
    const chunks = await convertStream(
      event(delta(null, { choices: [{ index: 0, delta: { role: 'assistant', content: null } }] })),
      event(delta(' Pe')),
      event(delta('er')),
      event({
        model: 'm',
        choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
        timings: { predicted_n: 2 },
      }),
      event({ model: 'm', choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } }),
      event('[DONE]'),
    )
    expect(chunks).toEqual([
      { content: ' Pe' },
      { content: 'er' },
      {
        content: '',
        stop: true,
        finish_reason: 'stop',
        model: 'm',
        timings: { predicted_n: 2 },
        usage: { prompt_tokens: 5, completion_tokens: 2 },
        tokens_predicted: 2,
        tokens_evaluated: 5,
      },
    ])
  })

  it('reads /completions events, split anywhere, text in the finishing event too', async () => {
    const body =
      event({ choices: [{ text: 'a', index: 0, finish_reason: null }] }) +
      event({ choices: [{ text: '', index: 0, finish_reason: null }] }) +
      event({ choices: [{ text: 'b', index: 0, finish_reason: 'length' }] }) +
      event('[DONE]')
    const chunks = await convertStream(body.slice(0, 7), body.slice(7, 50), body.slice(50))
    expect(chunks).toEqual([
      { content: 'a' },
      { content: 'b' },
      { content: '', stop: true, finish_reason: 'length' },
    ])
  })

  it('ends at [DONE] even without a finish reason, and at the body end after one', async () => {
    expect(await convertStream(event(delta('a')), event('[DONE]'))).toEqual([
      { content: 'a' },
      { content: '', stop: true },
    ])
    expect(
      await convertStream(
        event(delta('a')),
        event({ choices: [{ delta: {}, finish_reason: 'stop' }] }),
      ),
    ).toEqual([{ content: 'a' }, { content: '', stop: true, finish_reason: 'stop' }])
  })

  it('passes reasoning pieces on with empty content', async () => {
    expect(
      await convertStream(
        event({ choices: [{ delta: { reasoning_content: 'Hmm' } }] }),
        event(delta('Yes')),
        event('[DONE]'),
      ),
    ).toEqual([
      { content: '', reasoning_content: 'Hmm' },
      { content: 'Yes' },
      { content: '', stop: true },
    ])
  })

  it('fails a stream that is cut off', async () => {
    await expect(convertStream(event(delta('a')))).rejects.toMatchObject({
      name: 'BackendError',
      message: 'test server ended its stream without finishing the reply',
    })
  })

  it('turns an error event into BackendError, a 503 into BackendUnavailableError', async () => {
    await expect(
      convertStream(event(delta('a')), event({ error: { message: 'out of memory', code: 500 } })),
    ).rejects.toMatchObject({ name: 'BackendError', message: 'test server: out of memory' })
    await expect(
      convertStream(event({ error: { message: 'Loading model', code: 503 } })),
    ).rejects.toMatchObject({
      name: 'BackendUnavailableError',
      code: 'BACKEND_UNAVAILABLE',
      message: 'test server: Loading model',
    })
    await expect(
      convertStream(`event: error\ndata: ${JSON.stringify({ message: 'boom' })}\n\n`),
    ).rejects.toMatchObject({ name: 'BackendError', message: 'test server: boom' })
  })

  it('fails on an event that is not a JSON object', async () => {
    await expect(convertStream(event('{"choices": ['))).rejects.toMatchObject({
      name: 'BackendError',
      message: 'test server sent an event that is not JSON: {"choices": [',
    })
    await expect(convertStream(event('42'))).rejects.toMatchObject({ name: 'BackendError' })
  })
})

describe('convertOpenAIModelList', () => {
  const llamaServerList = {
    object: 'list',
    data: [{ id: '/m/tiny.gguf', object: 'model', owned_by: 'llamacpp', meta: { n_ctx: 1024 } }],
  }

  it('names the first listed model, with llama-server context size', () => {
    expect(convertOpenAIModelList(llamaServerList, { server: SERVER })).toEqual({
      model: '/m/tiny.gguf',
      contextSize: 1024,
    })
  })

  it('prefers the configured model, with vLLM or LM Studio context sizes', () => {
    const list = {
      data: [
        { id: 'a', max_model_len: 4096 },
        { id: 'b', max_context_length: 8192 },
      ],
    }
    expect(convertOpenAIModelList(list, { model: 'b', server: SERVER })).toEqual({
      model: 'b',
      contextSize: 8192,
    })
    expect(convertOpenAIModelList(list, { server: SERVER })).toEqual({
      model: 'a',
      contextSize: 4096,
    })
    expect(convertOpenAIModelList(list, { model: 'unlisted', server: SERVER })).toEqual({
      model: 'unlisted',
    })
  })

  it('fails when nothing is listed and no model was named', () => {
    expect(() => convertOpenAIModelList({ object: 'list', data: [] }, { server: SERVER })).toThrow(
      expect.objectContaining({ name: 'BackendError' }),
    )
    expect(convertOpenAIModelList({}, { model: 'x', server: SERVER })).toEqual({ model: 'x' })
  })
})
