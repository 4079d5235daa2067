/**
 * A third-party backend: a plain object with only `generate`, an async generator. What the
 * host makes of its chunks, through a real host and a real guest.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BackendUnavailableError,
  type CompletionChunk,
  connectToModel,
  createModelHost,
  type GenerateChunk,
  type GenerateOptions,
  type GenerateRequest,
  type ModelHost,
  type RemoteModel,
} from '../../src/index.ts'
import { waitFor } from './suite.ts'

/** Calls of `generate` whose generator has finished (its `finally` ran) and their signals. */
const finished: AbortSignal[] = []

/** Answers with the words of the prompt (or the last message) in reverse order. */
const reverse = {
  async *generate(
    request: GenerateRequest,
    { signal }: GenerateOptions,
  ): AsyncGenerator<GenerateChunk> {
    try {
      if (request.parameters?.fail === true) throw new BackendUnavailableError('Model is loading')
      if (request.parameters?.forever === true) {
        for (let i = 0; ; i++) {
          await sleep(5, undefined, { signal })
          yield { content: `${i} ` }
        }
      }
      const text = request.prompt ?? request.messages?.at(-1)?.content ?? ''
      const words = text.split(' ').reverse()
      for (const [i, word] of words.entries()) yield { content: i === 0 ? word : ` ${word}` }
      // A last chunk with the backend's own fields; without one the host ends the reply itself.
      if (request.parameters?.bare !== true)
        yield { content: '', stop: true, finish_reason: 'stop', words: words.length }
    } finally {
      finished.push(signal)
    }
  },
}

let host: ModelHost
let model: RemoteModel

beforeAll(async () => {
  host = await createModelHost({ backend: reverse })
  model = await connectToModel(host.shareUrl)
})
afterAll(async () => {
  await model?.close()
  await host?.stop()
})

async function collect(chunks: AsyncIterable<CompletionChunk>): Promise<CompletionChunk[]> {
  const all: CompletionChunk[] = []
  for await (const chunk of chunks) all.push(chunk)
  return all
}

describe('a custom backend with only generate()', () => {
  it('complete() gets the joined text and the last chunk’s fields', async () => {
    expect(await model.complete({ prompt: 'one two three' })).toEqual({
      content: 'three two one',
      stop: true,
      finish_reason: 'stop',
      words: 3,
    })
  })

  it('stream() gets every chunk as it is, stop on the last', async () => {
    expect(await collect(model.stream({ prompt: 'one two three' }))).toEqual([
      { content: 'three', stop: false },
      { content: ' two', stop: false },
      { content: ' one', stop: false },
      { content: '', stop: true, finish_reason: 'stop', words: 3 },
    ])
  })

  it('the host ends a reply without a stop chunk itself', async () => {
    expect(await collect(model.stream({ prompt: 'a b', parameters: { bare: true } }))).toEqual([
      { content: 'b', stop: false },
      { content: ' a', stop: false },
      { content: '', stop: true },
    ])
    expect(await model.complete({ prompt: 'a b', parameters: { bare: true } })).toEqual({
      content: 'b a',
      stop: true,
    })
  })

  it('chat() and chatStream() get messages', async () => {
    const messages = [
      { role: 'system', content: 'ignored' },
      { role: 'user', content: 'to peer Peer' },
    ]
    expect((await model.chat({ messages })).content).toBe('Peer peer to')
    const chunks = await collect(model.chatStream({ messages }))
    expect(chunks.map((chunk) => chunk.content).join('')).toBe('Peer peer to')
  })

  it('info() falls back to { model: "unknown" } without info()', async () => {
    expect(await model.info()).toEqual({ model: 'unknown' })
  })

  it('an abort reaches the generator’s signal and ends it', async () => {
    finished.length = 0
    const controller = new AbortController()
    let pieces = 0
    const consume = (async () => {
      for await (const _chunk of model.stream(
        { prompt: 'x', parameters: { forever: true } },
        { signal: controller.signal },
      )) {
        if (++pieces === 3) controller.abort()
      }
    })()
    await expect(consume).rejects.toMatchObject({ name: 'AbortError', code: 'ABORTED' })
    await waitFor(() => finished.length === 1, 2000)
    expect(finished[0]?.aborted).toBe(true)
    await waitFor(() => host.stats().activeRequests === 0, 2000)
    // The host serves on.
    expect((await model.complete({ prompt: 'still here' })).content).toBe('here still')
  })

  it('a BackendUnavailableError it throws reaches the guest as BACKEND_UNAVAILABLE', async () => {
    await expect(model.complete({ prompt: 'x', parameters: { fail: true } })).rejects.toMatchObject(
      {
        name: 'BackendUnavailableError',
        code: 'BACKEND_UNAVAILABLE',
        message: 'Model is loading',
      },
    )
  })
})
