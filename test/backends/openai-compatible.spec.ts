/** `openAICompatible()` against llama-server's own OpenAI routes (`/v1/completions`, `/v1/chat/completions`). */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { freePort, type LlamaServer } from '../../scripts/run-llama-server.ts'
import {
  connectToModel,
  createModelHost,
  type ModelHost,
  openAICompatible,
} from '../../src/index.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from '../fixtures/host.ts'
import { ask, askChat, describeBackendRoundTrip, startLlamaForBackends } from './suite.ts'

let llama: LlamaServer

beforeAll(async () => {
  llama = await startLlamaForBackends()
})
afterAll(async () => {
  await llama?.stop()
})

const final = {
  finish_reason: 'stop',
  tokens_predicted: 8,
  usage: expect.objectContaining({ completion_tokens: 8 }),
  model: inject('scriptedModel'),
}

describeBackendRoundTrip('openAICompatible on llama-server /v1', {
  llama: () => llama,
  backend: () => openAICompatible({ baseURL: `${llama.url}/v1` }),
  unreachable: async () => openAICompatible({ baseURL: `http://127.0.0.1:${await freePort()}/v1` }),
  info: () => ({
    model: inject('scriptedModel'),
    contextSize: 1024,
    capabilities: ['completion', 'chat', 'stream'],
    provider: 'openai-compatible',
  }),
  completionFinal: final,
  chatFinal: final,
})

describe('openAICompatible options', () => {
  it('reports the configured model name and works without usage in streams', async () => {
    const backend = openAICompatible({
      baseURL: `${llama.url}/v1`,
      model: 'tiny',
      includeUsage: false,
    })
    expect(await backend.info?.()).toEqual({
      model: 'tiny',
      capabilities: ['completion', 'chat', 'stream'],
      provider: 'openai-compatible',
    })
    const chunks = []
    for await (const chunk of backend.generate(
      { ...askChat, stream: true },
      { signal: new AbortController().signal },
    ))
      chunks.push(chunk)
    // llama-server sends usage on a chat stream only when asked for it.
    expect(chunks.at(-1)).toEqual({
      content: '',
      stop: true,
      finish_reason: 'stop',
      model: inject('scriptedModel'),
      timings: expect.any(Object),
    })
    await backend.health?.()
    await backend.close?.()
  })

  it('sends apiKey as a bearer token', async () => {
    const guarded = await startScriptedLlamaServer({ args: ['--api-key', 'sesame'] })
    const backends = ['sesame', 'guess'].map((apiKey) =>
      openAICompatible({ baseURL: `${guarded.url}/v1`, apiKey }),
    )
    const [right, wrong] = (await Promise.all(
      backends.map((backend) => createModelHost({ backend })),
    )) as [ModelHost, ModelHost]
    const rightGuest = await connectToModel(right.shareUrl)
    const wrongGuest = await connectToModel(wrong.shareUrl)
    try {
      expect((await rightGuest.complete(ask)).content).toBe(SCRIPTED_COMPLETION)
      await expect(wrongGuest.complete(ask)).rejects.toMatchObject({
        code: 'BACKEND_ERROR',
        message: expect.stringContaining('HTTP 401'),
      })
    } finally {
      await Promise.all([rightGuest.close(), wrongGuest.close()])
      await Promise.all([right.stop(), wrong.stop()])
      await Promise.all(backends.map((backend) => backend.close?.()))
      await guarded.stop()
    }
  })
})
