/** `llamaCpp({ socketPath })` (and `openAICompatible` on the same socket): llama-server on a Unix socket. */
import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { LlamaServer } from '../../scripts/run-llama-server.ts'
import { connectToModel, createModelHost, llamaCpp, openAICompatible } from '../../src/index.ts'
import { SCRIPTED_COMPLETION } from '../fixtures/host.ts'
import { askChat, describeBackendRoundTrip, startLlamaForBackends } from './suite.ts'

const socketPath = join(tmpdir(), `p2p-llm-${process.pid}-${randomUUID().slice(0, 8)}.sock`)
let llama: LlamaServer

beforeAll(async () => {
  llama = await startLlamaForBackends(socketPath)
})
afterAll(async () => {
  await llama?.stop()
  await rm(socketPath, { force: true })
})

describeBackendRoundTrip('llamaCpp over a Unix socket', {
  llama: () => llama,
  backend: () => llamaCpp({ socketPath }),
  // Nothing listens there: the socket file is missing (ENOENT).
  unreachable: () => llamaCpp({ socketPath: `${socketPath}.missing` }),
  info: () => ({
    model: inject('scriptedModel'),
    contextSize: 1024,
    capabilities: ['completion', 'chat', 'stream'],
    provider: 'llama.cpp',
    build: expect.any(String),
  }),
  completionFinal: { finish_reason: 'stop', stop_type: 'eos', tokens_predicted: 8 },
  chatFinal: { finish_reason: 'stop', tokens_predicted: 8 },
})

describe('openAICompatible over a Unix socket', () => {
  it('chats through the /v1 routes on the socket', async () => {
    const backend = openAICompatible({ baseURL: 'http://localhost/v1', socketPath })
    const host = await createModelHost({ backend })
    const model = await connectToModel(host.shareUrl)
    try {
      expect(await model.chat(askChat)).toMatchObject({
        content: SCRIPTED_COMPLETION,
        stop: true,
        finish_reason: 'stop',
      })
      expect((await model.info()).model).toBe(inject('scriptedModel'))
    } finally {
      await model.close()
      await host.stop()
      await backend.close?.()
    }
  })
})
