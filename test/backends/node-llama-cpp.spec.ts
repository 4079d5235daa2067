/**
 * The in-process backend (`p2p-llm/node-llama-cpp`) behind a real host, asked by a real guest,
 * on the generated scripted GGUF (answers every prompt with SCRIPTED_REPLY, then end of
 * sequence; with `ignore_eos` it repeats the sentence for ever).
 */
import { basename } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { obtainTinyModel } from '../../scripts/assets.ts'
import { SCRIPTED_COMPLETION, SCRIPTED_REPLY } from '../../scripts/tiny-model.ts'
import { type NodeLlamaCppBackend, nodeLlamaCpp } from '../../src/backends/node-llama-cpp.ts'
import {
  type CompletionChunk,
  connectToModel,
  createModelHost,
  type ModelHost,
  type RemoteModel,
} from '../../src/index.ts'

const PROMPT = 'Tell me something'

let modelPath: string

beforeAll(async () => {
  modelPath = await obtainTinyModel('scripted', inject('llamaServer'))
})

function tcpAddress(host: ModelHost): string {
  return host.multiaddrs.find((ma) => ma.includes('/tcp/') && !ma.includes('/ws')) as string
}

async function collect(
  stream: AsyncIterable<CompletionChunk>,
): Promise<{ pieces: string[]; stops: boolean[]; last: CompletionChunk | undefined }> {
  const pieces: string[] = []
  const stops: boolean[] = []
  let last: CompletionChunk | undefined
  for await (const chunk of stream) {
    pieces.push(chunk.content)
    stops.push(chunk.stop)
    last = chunk
  }
  return { pieces, stops, last }
}

describe('nodeLlamaCpp() behind a host', () => {
  let backend: NodeLlamaCppBackend
  let host: ModelHost
  let model: RemoteModel
  const progress: number[] = []

  beforeAll(async () => {
    backend = nodeLlamaCpp({
      modelPath,
      gpu: false,
      threads: 1,
      onLoadProgress: (value) => progress.push(value),
    })
    // Two at once reach the backend; its one sequence serves them in turn.
    host = await createModelHost({ backend, maxConcurrentRequests: 2 })
    model = await connectToModel(tcpAddress(host))
  })

  afterAll(async () => {
    await model?.close()
    await host?.stop()
    await backend?.close()
  })

  it('loads the model once, reporting progress up to 1', async () => {
    expect(backend.stats().loaded).toBe(false) // lazily: nothing asked yet
    await Promise.all([backend.load(), backend.load()])
    expect(backend.stats().loaded).toBe(true)
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.at(-1)).toBe(1)
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1] as number)
    const reported = progress.length
    await backend.load()
    expect(progress.length).toBe(reported)
  })

  it('completes a prompt with the scripted reply, leading space included', async () => {
    const res = await model.complete({ prompt: PROMPT, max_tokens: 32 })
    // Exactly what llama-server answers: node-llama-cpp alone would drop the leading space of
    // the first SentencePiece token ("▁Pe"); the backend detokenizes after the prompt instead.
    expect(res.content).toBe(SCRIPTED_COMPLETION)
    expect(res.stop).toBe(true)
    expect(res.finish_reason).toBe('stop')
    // ▁Pe er ▁to ▁peer ▁models ▁share ▁well
    expect(res.tokens_predicted).toBe(7)
    expect(res.timings).toMatchObject({ predicted_n: 7 })
  })

  it('streams pieces that join to the scripted reply', async () => {
    const { pieces, stops, last } = await collect(model.stream({ prompt: PROMPT, max_tokens: 32 }))
    expect(pieces.join('')).toBe(SCRIPTED_COMPLETION)
    expect(pieces.filter((piece) => piece !== '').length).toBe(7)
    expect(stops.at(-1)).toBe(true)
    expect(stops.slice(0, -1).every((stop) => !stop)).toBe(true)
    expect(last).toMatchObject({ content: '', finish_reason: 'stop', tokens_predicted: 7 })
  })

  it('stops at max_tokens with finish_reason "length"', async () => {
    const res = await model.complete({ prompt: PROMPT, max_tokens: 2 })
    expect(res.content).toBe(' Peer')
    expect(res.finish_reason).toBe('length')
    expect(res.tokens_predicted).toBe(2)
  })

  it('keeps generating past the end with ignore_eos', async () => {
    const res = await model.complete({
      prompt: PROMPT,
      max_tokens: 21,
      parameters: { ignore_eos: true, seed: 1, top_k: 40 },
    })
    expect(res.content).toBe(SCRIPTED_COMPLETION.repeat(3))
    expect(res.finish_reason).toBe('length')
  })

  it('ends before a stop string, even one spanning tokens and spaces', async () => {
    const res = await model.complete({
      prompt: PROMPT,
      max_tokens: 32,
      parameters: { stop: [' models'] },
    })
    expect(res.content).toBe(' Peer to peer')
    expect(res).toMatchObject({
      finish_reason: 'stop',
      stop_type: 'stopWord',
      stopping_word: ' models',
    })

    // Streamed: text that might begin a stop string is held back, and released when it does not.
    const spanning = await collect(
      model.stream({ prompt: PROMPT, max_tokens: 32, parameters: { stop: ['er to p', 'x'] } }),
    )
    expect(spanning.pieces.join('')).toBe(' Pe')
    const unmatched = await collect(
      model.stream({ prompt: PROMPT, max_tokens: 32, parameters: { stop: ['well!'] } }),
    )
    expect(unmatched.pieces.join('')).toBe(SCRIPTED_COMPLETION)
    expect(unmatched.last).toMatchObject({ finish_reason: 'stop', stop_type: 'eogToken' })
  })

  it('answers a chat through the chat template', async () => {
    const res = await model.chat({
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Hello there' },
        { role: 'assistant', content: 'Hi! How can I help?' },
        { role: 'user', content: PROMPT },
      ],
      max_tokens: 32,
    })
    // A chat reply is a message of its own: node-llama-cpp drops the word-start space of its
    // first token, so the content is the sentence without the leading space.
    expect(res.content).toBe(SCRIPTED_REPLY)
    expect(res.stop).toBe(true)
    expect(res.finish_reason).toBe('stop')
    expect(res.tokens_predicted).toBe(7)
  })

  it('streams a chat', async () => {
    const { pieces, stops } = await collect(
      model.chatStream({ messages: [{ role: 'user', content: PROMPT }], max_tokens: 32 }),
    )
    expect(pieces.join('')).toBe(SCRIPTED_REPLY)
    expect(pieces.filter((piece) => piece !== '').length).toBe(7)
    expect(stops.at(-1)).toBe(true)
    expect(stops.slice(0, -1).every((stop) => !stop)).toBe(true)
  })

  it('continues a trailing assistant message', async () => {
    const res = await model.chat({
      messages: [
        { role: 'user', content: PROMPT },
        { role: 'assistant', content: 'Peer to' },
      ],
      max_tokens: 32,
    })
    // The reply carries on the message, word-start space included.
    expect(res.content).toBe(' peer models share well')
  })

  it('refuses a chat role it cannot map', async () => {
    const err = await model
      .chat({ messages: [{ role: 'tool', content: '42' }] })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_REQUEST' })
  })

  it('describes the model', async () => {
    const info = await model.info()
    expect(info).toMatchObject({
      model: basename(modelPath),
      contextSize: 2048, // the tiny model's training context (the default caps at 8192)
      capabilities: ['completion', 'chat', 'stream'],
      provider: 'node-llama-cpp',
      threads: 1,
      parallel: 1,
      gpu: false,
    })
    expect(info.chatTemplate).toBe('Llama2Chat') // no template in the file: node-llama-cpp's fallback
  })

  it('stops generating at once when the guest aborts mid-stream', async () => {
    const before = backend.stats().tokensGenerated
    const controller = new AbortController()
    let received = 0
    const err = await (async () => {
      // ignore_eos and a huge max_tokens: left alone, this would run for minutes.
      for await (const chunk of model.stream(
        { prompt: PROMPT, max_tokens: 1_000_000, parameters: { ignore_eos: true } },
        { signal: controller.signal },
      )) {
        if (chunk.content !== '') received++
        if (received === 20) controller.abort()
      }
    })().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ABORTED' })

    // The backend's generate loop ends (its only sequence is free again) …
    await vi.waitFor(() => expect(backend.stats().busy).toBe(0), { timeout: 5000, interval: 10 })
    const stopped = backend.stats().tokensGenerated
    // … and no token is generated after that.
    await sleep(500)
    expect(backend.stats().tokensGenerated).toBe(stopped)
    expect(stopped - before).toBeGreaterThanOrEqual(20)
    expect(stopped - before).toBeLessThan(500)

    // The same sequence serves the next request straight away.
    const res = await model.complete({ prompt: PROMPT, max_tokens: 32 })
    expect(res.content).toBe(SCRIPTED_COMPLETION)
  })

  it('answers concurrent requests (one sequence, served in turn)', async () => {
    const long = model.complete({
      prompt: PROMPT,
      max_tokens: 300,
      parameters: { ignore_eos: true },
    })
    const [a, b, c] = await Promise.all([
      long,
      model.complete({ prompt: PROMPT, max_tokens: 32 }),
      collect(model.chatStream({ messages: [{ role: 'user', content: PROMPT }] })),
    ])
    expect(a.tokens_predicted).toBe(300)
    expect(a.content.startsWith(SCRIPTED_COMPLETION + SCRIPTED_COMPLETION)).toBe(true)
    expect(b.content).toBe(SCRIPTED_COMPLETION)
    expect(c.pieces.join('')).toBe(SCRIPTED_REPLY)
  })
})

describe('nodeLlamaCpp() with two parallel sequences', () => {
  let backend: NodeLlamaCppBackend
  let host: ModelHost
  let model: RemoteModel

  beforeAll(async () => {
    backend = nodeLlamaCpp({ modelPath, gpu: false, threads: 1, parallel: 2 })
    await backend.load()
    host = await createModelHost({ backend, maxConcurrentRequests: 2 })
    model = await connectToModel(tcpAddress(host))
  })

  afterAll(async () => {
    await model?.close()
    await host?.stop()
    await backend?.close()
  })

  it('generates two replies at once', async () => {
    let busyAtOnce = 0
    const ask = async () => {
      let text = ''
      for await (const chunk of model.stream({
        prompt: PROMPT,
        max_tokens: 400,
        parameters: { ignore_eos: true },
      })) {
        text += chunk.content
        busyAtOnce = Math.max(busyAtOnce, backend.stats().busy)
      }
      return text
    }
    const [a, b] = await Promise.all([ask(), ask()])
    expect(a).toBe(b)
    expect(a.startsWith(SCRIPTED_COMPLETION.repeat(10))).toBe(true)
    expect(busyAtOnce).toBe(2)
  })

  it('refuses requests once closed', async () => {
    await backend.close()
    expect(backend.stats().loaded).toBe(false)
    const err = await model.complete({ prompt: PROMPT }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE' })
  })
})

describe('nodeLlamaCpp() without a model', () => {
  it('rejects with BACKEND_UNAVAILABLE, naming the file', async () => {
    const backend = nodeLlamaCpp({ modelPath: '/nonexistent/model.gguf', gpu: false })
    const err = await backend.load().catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'BackendUnavailableError', code: 'BACKEND_UNAVAILABLE' })
    expect((err as Error).message).toContain('/nonexistent/model.gguf')
    await backend.close()
  })
})
