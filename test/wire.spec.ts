/**
 * The wire protocol as third-party clients see it: exact JSON in, exact JSON out, over a plain
 * js-libp2p node (mplex, as the original app's clients use, and yamux).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LlamaServer } from '../scripts/run-llama-server.ts'
import { createModelHost, llamaCpp, type ModelHost } from '../src/index.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from './fixtures/host.ts'
import { createRawClient, type RawClient } from './fixtures/raw-client.ts'

let llama: LlamaServer
let host: ModelHost
const MAX_FRAME_SIZE = 64 * 1024

beforeAll(async () => {
  llama = await startScriptedLlamaServer()
  host = await createModelHost({
    backend: llamaCpp({ url: llama.url }),
    maxFrameSize: MAX_FRAME_SIZE,
  })
})

afterAll(async () => {
  await host?.stop()
  await llama?.stop()
})

const tcpAddress = () =>
  host.multiaddrs.find((ma) => ma.includes('/tcp/') && !ma.includes('/ws')) as string

/** The original app's request, field for field. */
const contractRequest = {
  prompt: 'Tell me something',
  max_tokens: 32,
  temperature: 0.7,
  top_p: 0.9,
  stream: false,
  apiKey: '',
  parameters: { seed: 1 },
}

describe.each(['mplex', 'yamux'] as const)('a plain js-libp2p client on %s', (muxer) => {
  let client: RawClient
  beforeAll(async () => {
    client = await createRawClient(tcpAddress(), muxer)
  })
  afterAll(async () => {
    await client?.stop()
  })

  it('sends the contract request and gets one success frame', async () => {
    const frames = await client.request(contractRequest)
    expect(frames).toHaveLength(1)
    expect(frames[0]).toMatchObject({
      success: true,
      data: { content: SCRIPTED_COMPLETION, stop: true },
    })
  })

  it('streams one frame per piece, the last with stop:true', async () => {
    const frames = (await client.request({ ...contractRequest, stream: true })) as Array<{
      success: boolean
      data: { content: string; stop: boolean }
    }>
    expect(frames.every((frame) => frame.success)).toBe(true)
    expect(frames.map((frame) => frame.data.content).join('')).toBe(SCRIPTED_COMPLETION)
    expect(frames.at(-1)?.data.stop).toBe(true)
    expect(frames.slice(0, -1).every((frame) => !frame.data.stop)).toBe(true)
  })

  it('answers 200 requests in a row on one connection', { timeout: 120_000 }, async () => {
    const failures: string[] = []
    for (let i = 0; i < 200; i++) {
      try {
        const frames = (await client.request({
          prompt: `Request number ${i}`,
          max_tokens: 32,
        })) as Array<{
          data?: { content?: string }
        }>
        if (frames[0]?.data?.content !== SCRIPTED_COMPLETION)
          failures.push(`#${i}: ${JSON.stringify(frames)}`)
      } catch (err) {
        failures.push(`#${i}: ${(err as Error).message}`)
      }
    }
    expect(failures).toEqual([])
    expect(client.connection.status).toBe('open')
  })
})

describe('bad input on the wire', () => {
  let client: RawClient
  beforeAll(async () => {
    client = await createRawClient(tcpAddress(), 'yamux')
  })
  afterAll(async () => {
    await client?.stop()
  })

  const encode = (text: string) => new TextEncoder().encode(text)
  const cases: Array<[string, { body?: unknown; rawFrame?: Uint8Array }, string]> = [
    ['not JSON', { rawFrame: encode('{"prompt": "Hi",') }, 'INVALID_REQUEST'],
    ['not UTF-8', { rawFrame: new Uint8Array([0xff, 0xfe, 0x7b]) }, 'INVALID_REQUEST'],
    ['JSON that is not an object', { body: ['prompt'] }, 'INVALID_REQUEST'],
    ['a missing prompt', { body: { max_tokens: 4 } }, 'INVALID_REQUEST'],
    ['a prompt that is not a string', { body: { prompt: 42 } }, 'INVALID_REQUEST'],
    ['a negative max_tokens', { body: { prompt: 'Hi', max_tokens: -5 } }, 'INVALID_REQUEST'],
    ['a fractional max_tokens', { body: { prompt: 'Hi', max_tokens: 1.5 } }, 'INVALID_REQUEST'],
    ['stream that is not a boolean', { body: { prompt: 'Hi', stream: 'yes' } }, 'INVALID_REQUEST'],
    ['top_p above 1', { body: { prompt: 'Hi', top_p: 3 } }, 'INVALID_REQUEST'],
    [
      'both prompt and messages',
      { body: { prompt: 'Hi', messages: [{ role: 'user', content: 'Hi' }] } },
      'INVALID_REQUEST',
    ],
    [
      'parameters that are not an object',
      { body: { prompt: 'Hi', parameters: 'fast' } },
      'INVALID_REQUEST',
    ],
    [
      'a frame over the limit',
      { body: { prompt: 'x'.repeat(MAX_FRAME_SIZE + 1) } },
      'FRAME_TOO_LARGE',
    ],
  ]

  it.each(cases)('%s gets an error frame, and the host serves on', async (_name, input, code) => {
    const frames = await client.request(input.body, { rawFrame: input.rawFrame })
    expect(frames).toHaveLength(1)
    expect(frames[0]).toMatchObject({ success: false, code, error: expect.any(String) })
    expect((frames[0] as { error: string }).error.length).toBeGreaterThan(5)

    const next = await client.request({ prompt: 'Tell me something', max_tokens: 32 })
    expect(next[0]).toMatchObject({ success: true, data: { content: SCRIPTED_COMPLETION } })
    expect(client.connection.status).toBe('open')
  })

  it('names the offending field', async () => {
    const [frame] = (await client.request({ prompt: 'Hi', max_tokens: -5 })) as Array<{
      error: string
    }>
    expect(frame?.error).toContain('max_tokens')
  })

  it('a broken length prefix fails only its own stream', async () => {
    // Ten continuation bytes: a varint longer than any allowed frame length.
    const frames = await client.request(undefined, { rawBytes: new Uint8Array(10).fill(0xff) })
    expect(frames.length).toBeLessThanOrEqual(1)
    if (frames.length === 1)
      expect(frames[0]).toMatchObject({ success: false, code: 'FRAME_TOO_LARGE' })
    const next = await client.request({ prompt: 'Tell me something', max_tokens: 32 })
    expect(next[0]).toMatchObject({ success: true, data: { content: SCRIPTED_COMPLETION } })
  })
})
