import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LlamaServer } from '../scripts/run-llama-server.ts'
import {
  connectToModel,
  createModelHost,
  llamaCpp,
  type ModelHost,
  type RemoteModel,
} from '../src/index.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from './fixtures/host.ts'

let llama: LlamaServer
let host: ModelHost

beforeAll(async () => {
  llama = await startScriptedLlamaServer()
  host = await createModelHost({ backend: llamaCpp({ url: llama.url }) })
})

afterAll(async () => {
  await host?.stop()
  await llama?.stop()
})

const transports = {
  TCP: () => host.multiaddrs.find((ma) => ma.includes('/tcp/') && !ma.includes('/ws')) as string,
  WebSockets: () => host.multiaddrs.find((ma) => ma.includes('/ws/')) as string,
  'share URL': () => host.shareUrl,
}

describe.each(Object.entries(transports))('SDK round trip over %s', (_name, address) => {
  let model: RemoteModel

  beforeAll(async () => {
    model = await connectToModel(address())
  })
  afterAll(async () => {
    await model?.close()
  })

  it('completes a prompt with the scripted reply', async () => {
    const res = await model.complete({ prompt: 'Tell me something', max_tokens: 32 })
    expect(res.content).toBe(SCRIPTED_COMPLETION)
    expect(res.stop).toBe(true)
    expect(res.finish_reason).toBe('stop')
    expect(res.timings).toBeTypeOf('object')
    // The model's file name, never its path on the host's disk.
    expect(res.model).toMatch(/^tiny-scripted-[0-9a-f]+\.gguf$/)
  })

  it('streams pieces that join to the scripted reply', async () => {
    const pieces: string[] = []
    const stops: boolean[] = []
    for await (const chunk of model.stream({ prompt: 'Tell me something', max_tokens: 32 })) {
      pieces.push(chunk.content)
      stops.push(chunk.stop)
    }
    expect(pieces.join('')).toBe(SCRIPTED_COMPLETION)
    expect(pieces.filter((piece) => piece !== '').length).toBeGreaterThan(3)
    expect(stops.at(-1)).toBe(true)
    expect(stops.slice(0, -1).every((stop) => !stop)).toBe(true)
  })

  it('stops at max_tokens', async () => {
    const res = await model.complete({ prompt: 'Tell me something', max_tokens: 2 })
    expect(SCRIPTED_COMPLETION.startsWith(res.content)).toBe(true)
    expect(res.content.length).toBeLessThan(SCRIPTED_COMPLETION.length)
    expect(res.finish_reason).toBe('length')
  })

  it('describes the model', async () => {
    const info = await model.info()
    expect(info.model).toMatch(/\.gguf$/)
    // -c 2048 split over -np 2 slots: what one request can use.
    expect(info.contextSize).toBe(1024)
  })
})

describe('share URL', () => {
  it('names the host and its own WebSocket hub on loopback', () => {
    expect(host.shareUrl).toMatch(new RegExp(`^p2p://${host.peerId}@127\\.0\\.0\\.1:\\d+$`))
  })
})
