import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, type LlamaServer } from '../scripts/run-llama-server.ts'
import {
  connectToModel,
  createModelHost,
  llamaCpp,
  type ModelHost,
  type RemoteModel,
} from '../src/index.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from './fixtures/host.ts'

describe('a backend that is down', () => {
  let host: ModelHost
  let model: RemoteModel
  let port: number

  beforeAll(async () => {
    // A port nothing listens on: llama-server has not started (or died).
    port = await freePort()
    host = await createModelHost({ backend: llamaCpp({ url: `http://127.0.0.1:${port}` }) })
    model = await connectToModel(host.shareUrl)
  })
  afterAll(async () => {
    await model?.close()
    await host?.stop()
  })

  it('gives BACKEND_UNAVAILABLE to complete()', async () => {
    const err = await model.complete({ prompt: 'Hi' }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'BackendUnavailableError', code: 'BACKEND_UNAVAILABLE' })
    expect((err as Error).message).toContain(`127.0.0.1:${port}`)
  })

  it('gives BACKEND_UNAVAILABLE to stream()', async () => {
    const consume = async () => {
      for await (const _chunk of model.stream({ prompt: 'Hi' })) {
        // no chunk is expected
      }
    }
    await expect(consume()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' })
  })

  it('serves as soon as the backend comes up', async () => {
    let llama: LlamaServer | undefined
    try {
      llama = await startScriptedLlamaServer({ port })
      const res = await model.complete({ prompt: 'Tell me something', max_tokens: 32 })
      expect(res.content).toBe(SCRIPTED_COMPLETION)
    } finally {
      await llama?.stop()
    }
  })
})

describe('a backend that errors', () => {
  let llama: LlamaServer
  let host: ModelHost
  let model: RemoteModel

  beforeAll(async () => {
    llama = await startScriptedLlamaServer()
    host = await createModelHost({ backend: llamaCpp({ url: llama.url }) })
    model = await connectToModel(host.shareUrl)
  })
  afterAll(async () => {
    await model?.close()
    await host?.stop()
    await llama?.stop()
  })

  it("passes llama-server's own error as BACKEND_ERROR", async () => {
    // n_probs must be a number: llama-server rejects the request with HTTP 400.
    const err = await model
      .complete({ prompt: 'Hi', parameters: { n_probs: 'many' } })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'BackendError', code: 'BACKEND_ERROR' })
  })

  it('a custom backend that throws gives BACKEND_ERROR, and the host serves on', async () => {
    const failing = await createModelHost({
      backend: {
        // biome-ignore lint/correctness/useYield: fails before its first piece on purpose
        async *generate() {
          throw new Error('model exploded')
        },
      },
    })
    const guest = await connectToModel(failing.shareUrl)
    try {
      await expect(guest.complete({ prompt: 'Hi' })).rejects.toMatchObject({
        code: 'BACKEND_ERROR',
        message: expect.stringContaining('model exploded'),
      })
      await expect(guest.complete({ prompt: 'Hi' })).rejects.toMatchObject({
        code: 'BACKEND_ERROR',
      })
    } finally {
      await guest.close()
      await failing.stop()
    }
  })
})
