/** `llamaCpp({ url })`: prompts over `/completion`, chat over `/v1/chat/completions`, on TCP. */
import { afterAll, beforeAll, expect, inject } from 'vitest'
import { freePort, type LlamaServer } from '../../scripts/run-llama-server.ts'
import { llamaCpp } from '../../src/index.ts'
import { describeBackendRoundTrip, startLlamaForBackends } from './suite.ts'

let llama: LlamaServer

beforeAll(async () => {
  llama = await startLlamaForBackends()
})
afterAll(async () => {
  await llama?.stop()
})

describeBackendRoundTrip('llamaCpp over HTTP', {
  llama: () => llama,
  backend: () => llamaCpp({ url: llama.url }),
  unreachable: async () => llamaCpp({ url: `http://127.0.0.1:${await freePort()}` }),
  info: () => ({
    model: inject('scriptedModel'),
    contextSize: 1024,
    capabilities: ['completion', 'chat', 'stream'],
    provider: 'llama.cpp',
    build: expect.any(String),
  }),
  // The native route's own figures…
  completionFinal: { finish_reason: 'stop', stop_type: 'eos', tokens_predicted: 8 },
  // …and the OpenAI route's, for chat.
  chatFinal: {
    finish_reason: 'stop',
    tokens_predicted: 8,
    usage: expect.objectContaining({ completion_tokens: 8 }),
    model: inject('scriptedModel'),
  },
})
