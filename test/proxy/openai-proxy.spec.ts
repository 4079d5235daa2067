/**
 * The OpenAI-compatible proxy as apps use it: the official `openai` npm client → the proxy →
 * a real host (libp2p on loopback) → a real llama-server on the scripted model.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { freePort, type LlamaServer } from '../../scripts/run-llama-server.ts'
import {
  createModelHost,
  createOpenAIProxy,
  llamaCpp,
  type ModelHost,
  type ModelHostInit,
  type OpenAIProxy,
  type OpenAIProxyInit,
} from '../../src/index.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from '../fixtures/host.ts'
import { waitFor } from '../fixtures/wait.ts'

let llama: LlamaServer
const cleanup: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  llama = await startScriptedLlamaServer({ parallel: 2 })
})
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {})
})
afterAll(async () => {
  await llama?.stop()
})

async function startHost(init: Partial<ModelHostInit> = {}): Promise<ModelHost> {
  const host = await createModelHost({ backend: llamaCpp({ url: llama.url }), ...init })
  cleanup.push(() => host.stop())
  return host
}

async function startProxy(init: OpenAIProxyInit): Promise<OpenAIProxy> {
  const proxy = await createOpenAIProxy({ iceServers: [], ...init })
  cleanup.push(() => proxy.close())
  return proxy
}

/** The official client, without its own retries (so each test sees the proxy's answer). */
function client(proxy: OpenAIProxy, apiKey = 'unused'): OpenAI {
  return new OpenAI({ baseURL: proxy.url, apiKey, maxRetries: 0 })
}

const idle = async (): Promise<boolean> =>
  (await llama.slots()).every((slot) => !slot.is_processing)

const messages = [{ role: 'user' as const, content: 'Tell me something' }]
const prompt = 'Tell me something'
/**
 * Keeps llama-server generating until it is stopped. `ignore_eos` is llama.cpp's own field: the
 * proxy passes unknown fields on in `parameters`. (Spread into a request, it needs no
 * `@ts-expect-error`: TypeScript checks excess properties only in object literals.)
 */
const forever = { max_tokens: 20_000, ignore_eos: true }

describe('through the openai client', () => {
  let host: ModelHost
  let proxy: OpenAIProxy
  let openai: OpenAI

  beforeAll(async () => {
    host = await createModelHost({ backend: llamaCpp({ url: llama.url }) })
    proxy = await createOpenAIProxy({ address: host.shareUrl, iceServers: [] })
    openai = client(proxy)
  })
  afterAll(async () => {
    await proxy?.close()
    await host?.stop()
  })

  it('listens on loopback and gives the base URL', () => {
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}/v1`)
    expect(proxy.port).toBeGreaterThan(0)
  })

  it('lists the host model', async () => {
    const models = await openai.models.list()
    expect(models.data).toEqual([
      {
        id: inject('scriptedModel'),
        object: 'model',
        created: expect.any(Number),
        owned_by: 'p2p-llm',
      },
    ])
    expect(await openai.models.retrieve(inject('scriptedModel'))).toMatchObject({
      id: inject('scriptedModel'),
    })
    await expect(openai.models.retrieve('gpt-4o')).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })

  it('answers a chat whole, with usage', async () => {
    const reply = await openai.chat.completions.create({ model: 'anything', messages })
    expect(reply).toEqual({
      id: expect.stringMatching(/^chatcmpl-/),
      object: 'chat.completion',
      created: expect.any(Number),
      model: inject('scriptedModel'),
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: SCRIPTED_COMPLETION },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: expect.any(Number),
        completion_tokens: 8,
        total_tokens: expect.any(Number),
      },
    })
    expect(reply.usage?.prompt_tokens).toBeGreaterThan(0)
    expect(reply.usage?.total_tokens).toBe((reply.usage?.prompt_tokens ?? 0) + 8)
    expect(Math.abs(reply.created - Date.now() / 1000)).toBeLessThan(60)
  })

  it('streams a chat: role first, deltas, finish_reason stop, then usage', async () => {
    const stream = await openai.chat.completions.create({
      model: 'anything',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1)
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true)
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' })
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')
    expect(text).toBe(SCRIPTED_COMPLETION)
    const withChoices = chunks.filter((chunk) => chunk.choices.length > 0)
    expect(withChoices.at(-1)?.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' })
    expect(withChoices.slice(0, -1).every((c) => c.choices[0]?.finish_reason === null)).toBe(true)
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { completion_tokens: 8, prompt_tokens: expect.any(Number) },
    })
    // 1 role chunk + 7 pieces + finish + usage
    expect(chunks).toHaveLength(10)
  })

  it('streams without a usage chunk unless asked', async () => {
    const stream = await openai.chat.completions.create({ model: 'm', messages, stream: true })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop')
    expect(chunks.some((chunk) => 'usage' in chunk)).toBe(false)
  })

  it('completes a prompt whole and streamed', async () => {
    const whole = await openai.completions.create({ model: 'm', prompt })
    expect(whole).toEqual({
      id: expect.stringMatching(/^cmpl-/),
      object: 'text_completion',
      created: expect.any(Number),
      model: inject('scriptedModel'),
      choices: [{ text: SCRIPTED_COMPLETION, index: 0, logprobs: null, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: expect.any(Number),
        completion_tokens: 8,
        total_tokens: expect.any(Number),
      },
    })

    const stream = await openai.completions.create({
      model: 'm',
      prompt: [prompt],
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks: OpenAI.Completion[] = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks.every((chunk) => chunk.object === 'text_completion')).toBe(true)
    expect(chunks.map((chunk) => chunk.choices[0]?.text ?? '').join('')).toBe(SCRIPTED_COMPLETION)
    expect(chunks.at(-2)?.choices[0]).toMatchObject({ text: '', finish_reason: 'stop' })
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 8 } })
  })

  it('maps max_tokens, max_completion_tokens and stop', async () => {
    const short = await openai.completions.create({ model: 'm', prompt, max_tokens: 3 })
    expect(short.choices[0]).toMatchObject({ text: ' Peer to', finish_reason: 'length' })
    expect(short.usage?.completion_tokens).toBe(3)
    const chat = await openai.chat.completions.create({
      model: 'm',
      messages,
      max_completion_tokens: 2,
    })
    expect(chat.choices[0]).toMatchObject({
      message: { content: ' Peer' },
      finish_reason: 'length',
    })
    const stopped = await openai.completions.create({
      model: 'm',
      prompt,
      stop: ' share',
      temperature: 0,
      top_p: 1,
      seed: 7,
    })
    expect(stopped.choices[0]).toMatchObject({
      text: ' Peer to peer models',
      finish_reason: 'stop',
    })
  })

  it('sends server-sent events with the headers OpenAI clients expect', async () => {
    const res = await fetch(`${proxy.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages, stream: true }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(res.headers.get('cache-control')).toBe('no-cache')
    const body = await res.text()
    const events = body.split('\n\n')
    expect(events.at(-1)).toBe('')
    expect(events.at(-2)).toBe('data: [DONE]')
    for (const event of events.slice(0, -2)) expect(event).toMatch(/^data: \{.*\}$/)
  })

  it('a client that aborts mid-stream stops the generation on llama-server', async () => {
    const controller = new AbortController()
    const stream = await openai.chat.completions.create(
      { model: 'm', messages, stream: true, ...forever },
      { signal: controller.signal },
    )
    let pieces = 0
    let busy = false
    // The client ends the loop quietly on its own abort.
    for await (const _chunk of stream) {
      if (++pieces === 20) {
        busy = !(await idle())
        controller.abort()
      }
    }
    expect(pieces).toBe(20)
    // It was generating (and would for a long while), and stops within 2 s of the abort.
    expect(busy).toBe(true)
    const abortedAt = Date.now()
    await waitFor(idle, 2000)
    expect(Date.now() - abortedAt).toBeLessThan(2000)
    // The proxy goes on serving.
    const reply = await openai.chat.completions.create({ model: 'm', messages })
    expect(reply.choices[0]?.message.content).toBe(SCRIPTED_COMPLETION)
  })

  it('breaking out of the loop stops it too, and so does aborting a whole-reply request', async () => {
    const stream = await openai.completions.create({
      model: 'm',
      prompt,
      stream: true,
      // @ts-expect-error llama.cpp's field, passed through
      ignore_eos: true,
      max_tokens: 20_000,
    })
    for await (const chunk of stream) if (chunk.choices[0]?.text !== '') break
    await waitFor(idle, 2000)

    const controller = new AbortController()
    const whole = openai.completions.create(
      { model: 'm', prompt, ...forever },
      { signal: controller.signal },
    )
    await waitFor(async () => !(await idle()))
    controller.abort()
    await expect(whole).rejects.toBeInstanceOf(OpenAI.APIUserAbortError)
    await waitFor(idle, 2000)
  })
})

describe('errors', () => {
  it('refuses a missing or wrong proxy key with 401, serves the right one', async () => {
    const host = await startHost()
    const proxy = await startProxy({ address: host.shareUrl, apiKey: 'proxy-secret' })
    const error = await client(proxy, 'wrong')
      .chat.completions.create({ model: 'm', messages })
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(error).toMatchObject({
      status: 401,
      code: 'UNAUTHORIZED',
      type: 'authentication_error',
      message: '401 Wrong API key for this proxy',
    })
    // Without any key (the openai client always sends one).
    const missing = await fetch(`${proxy.url}/models`)
    expect(missing.status).toBe(401)
    expect(await missing.json()).toMatchObject({
      error: { code: 'UNAUTHORIZED', message: expect.stringContaining('Authorization: Bearer') },
    })
    await expect(client(proxy, 'wrong').models.list()).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    )
    const reply = await client(proxy, 'proxy-secret').chat.completions.create({
      model: 'm',
      messages,
    })
    expect(reply.choices[0]?.message.content).toBe(SCRIPTED_COMPLETION)
  })

  it("passes the host's UNAUTHORIZED on as 401, and works with hostApiKey", async () => {
    const host = await startHost({ apiKey: 'host-secret', authFailureDelay: 10 })
    const without = await startProxy({ address: host.shareUrl })
    const error = await client(without)
      .chat.completions.create({ model: 'm', messages })
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(error).toMatchObject({
      status: 401,
      code: 'UNAUTHORIZED',
      message: expect.stringContaining('hostApiKey'),
    })
    const withKey = await startProxy({ address: host.shareUrl, hostApiKey: 'host-secret' })
    const reply = await client(withKey).chat.completions.create({
      model: 'm',
      messages,
      stream: false,
    })
    expect(reply.choices[0]?.message.content).toBe(SCRIPTED_COMPLETION)
  })

  it('answers 502 CONNECTION_FAILED when the host cannot be reached', async () => {
    const host = await startHost()
    const address = host.shareUrl
    await host.stop()
    const proxy = await startProxy({ address, maxRetries: 2, retryDelay: 50 })
    const error = await client(proxy)
      .chat.completions.create({ model: 'm', messages })
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.InternalServerError)
    expect(error).toMatchObject({ status: 502, code: 'CONNECTION_FAILED', type: 'server_error' })
  })

  it("answers 503 BACKEND_UNAVAILABLE when the host's model server is down", async () => {
    const host = await startHost({
      backend: llamaCpp({ url: `http://127.0.0.1:${await freePort()}` }),
    })
    const proxy = await startProxy({ address: host.shareUrl, modelName: 'tiny' })
    const error = await client(proxy)
      .completions.create({ model: 'm', prompt, stream: true })
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.InternalServerError)
    expect(error).toMatchObject({ status: 503, code: 'BACKEND_UNAVAILABLE' })
  })

  it('answers bad requests with 400 and names the field', async () => {
    const host = await startHost()
    const proxy = await startProxy({ address: host.shareUrl })
    const openai = client(proxy)
    const cases: Array<[Promise<unknown>, string]> = [
      [openai.chat.completions.create({ model: 'm', messages: [] }), 'messages'],
      [openai.chat.completions.create({ model: 'm', messages, temperature: -1 }), 'temperature'],
      [openai.chat.completions.create({ model: 'm', messages, n: 2 }), 'n'],
      [
        openai.chat.completions.create({
          model: 'm',
          messages: [
            {
              role: 'user',
              content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,' } }],
            },
          ],
        }),
        'messages[0].content[0]',
      ],
      [openai.completions.create({ model: 'm', prompt: [1, 2, 3] }), 'prompt'],
      [openai.completions.create({ model: 'm', prompt: ['a', 'b'] }), 'prompt'],
    ]
    for (const [call, param] of cases) {
      const error = await call.catch((err: unknown) => err)
      expect(error).toBeInstanceOf(OpenAI.BadRequestError)
      expect(error).toMatchObject({ status: 400, code: 'INVALID_REQUEST', param })
    }
  })

  it('answers 400 to malformed JSON, 404 to unknown routes, 405 to wrong methods, 413 to huge bodies', async () => {
    const host = await startHost()
    const proxy = await startProxy({ address: host.shareUrl, maxBodySize: 64 * 1024 })
    const post = (path: string, body: string) =>
      fetch(`${proxy.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      })
    const malformed = await post('/chat/completions', '{"messages": [')
    expect(malformed.status).toBe(400)
    expect(await malformed.json()).toEqual({
      error: {
        message: expect.stringContaining('not valid JSON'),
        type: 'invalid_request_error',
        param: null,
        code: 'INVALID_REQUEST',
      },
    })
    const unknown = await fetch(`${proxy.url}/embeddings`, { method: 'POST', body: '{}' })
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND' } })
    const wrongMethod = await fetch(`${proxy.url}/chat/completions`)
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.get('allow')).toBe('POST')
    await wrongMethod.body?.cancel()
    const huge = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(100_000) }] })
    const tooLarge = await post('/chat/completions', huge)
    expect(tooLarge.status).toBe(413)
    expect(await tooLarge.json()).toMatchObject({ error: { code: 'FRAME_TOO_LARGE' } })
    // The same body through the openai client: its error class for 413 is the generic APIError.
    const error = await client(proxy)
      .chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'x'.repeat(100_000) }],
      })
      .catch((err: unknown) => err)
    expect(error).toMatchObject({ status: 413, code: 'FRAME_TOO_LARGE' })
    // And the proxy still serves.
    expect((await post('/completions', JSON.stringify({ prompt }))).status).toBe(200)
  })

  it('answers 429 when the host has too many requests of this proxy in flight', async () => {
    const host = await startHost({ maxRequestsPerPeer: 1 })
    const proxy = await startProxy({ address: host.shareUrl, modelName: 'tiny' })
    const openai = client(proxy)
    const controller = new AbortController()
    const running = openai.completions
      .create({ model: 'm', prompt, ...forever }, { signal: controller.signal })
      .catch(() => {})
    await waitFor(async () => !(await idle()))
    const error = await openai.completions
      .create({ model: 'm', prompt })
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.RateLimitError)
    expect(error).toMatchObject({ status: 429, code: 'TOO_MANY_REQUESTS' })
    controller.abort()
    await running
    await waitFor(idle, 2000)
  })

  it('ends a stream that fails midway with an error event the client throws', async () => {
    const host = await startHost({ requestTimeout: 700 })
    const proxy = await startProxy({ address: host.shareUrl, modelName: 'tiny' })
    const stream = await client(proxy).chat.completions.create({
      model: 'm',
      messages,
      stream: true,
      ...forever,
    })
    let pieces = 0
    const error = await (async () => {
      for await (const _chunk of stream) pieces++
    })().catch((err: unknown) => err)
    expect(pieces).toBeGreaterThan(1)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect(error).toMatchObject({ code: 'TIMEOUT', type: 'server_error' })
    await waitFor(idle, 2000)
  })
})

describe('host restarts', () => {
  it('reconnects to a host that came back with the same identity and port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2p-llm-proxy-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const identity = join(dir, 'host.key')
    const listen = [`/ip4/127.0.0.1/tcp/${await freePort()}/ws`]
    const backend = llamaCpp({ url: llama.url })

    const first = await createModelHost({ backend, identity, listen })
    const shareUrl = first.shareUrl
    const proxy = await startProxy({ address: shareUrl })
    const openai = client(proxy)
    expect(
      (await openai.chat.completions.create({ model: 'm', messages })).choices[0]?.message.content,
    ).toBe(SCRIPTED_COMPLETION)
    await first.stop()

    const second = await startHost({ backend, identity, listen })
    expect(second.shareUrl).toBe(shareUrl)
    expect(
      (await openai.chat.completions.create({ model: 'm', messages })).choices[0]?.message.content,
    ).toBe(SCRIPTED_COMPLETION)
    const stream = await openai.completions.create({ model: 'm', prompt, stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? ''
    expect(text).toBe(SCRIPTED_COMPLETION)
  })

  it('retries while the host is restarting, before answering', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2p-llm-proxy-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const identity = join(dir, 'host.key')
    const listen = [`/ip4/127.0.0.1/tcp/${await freePort()}/ws`]
    const backend = llamaCpp({ url: llama.url })

    const first = await createModelHost({ backend, identity, listen })
    const proxy = await startProxy({ address: first.shareUrl, retryDelay: 200, maxRetries: 5 })
    const openai = client(proxy)
    await openai.models.list()
    await first.stop()
    // The request arrives while no host is there; the host is back 600 ms later.
    const reply = openai.chat.completions.create({ model: 'm', messages })
    await new Promise((resolve) => setTimeout(resolve, 600))
    await startHost({ backend, identity, listen })
    expect((await reply).choices[0]?.message.content).toBe(SCRIPTED_COMPLETION)
  })
})

describe('lifecycle', () => {
  it('serves concurrent requests over its one connection', async () => {
    const host = await startHost()
    const proxy = await startProxy({ address: host.shareUrl })
    const openai = client(proxy)
    const replies = await Promise.all([
      openai.chat.completions.create({ model: 'm', messages }),
      openai.completions.create({ model: 'm', prompt }),
      openai.chat.completions.create({ model: 'm', messages, max_tokens: 3 }),
    ])
    expect(replies.map((reply) => reply.choices[0])).toMatchObject([
      { message: { content: SCRIPTED_COMPLETION } },
      { text: SCRIPTED_COMPLETION },
      { message: { content: ' Peer to' }, finish_reason: 'length' },
    ])
    expect(host.connections()).toHaveLength(1)
  })

  it('close() ends a stream under way with an error event and stops the generation', async () => {
    const host = await startHost()
    const proxy = await startProxy({ address: host.shareUrl, modelName: 'tiny' })
    const stream = await client(proxy).chat.completions.create({
      model: 'm',
      messages,
      stream: true,
      ...forever,
    })
    let pieces = 0
    const error = await (async () => {
      for await (const _chunk of stream) if (++pieces === 10) void proxy.close()
    })().catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'ABORTED', message: 'The proxy is closing' })
    await waitFor(idle, 2000)
    await expect(fetch(`${proxy.url}/models`)).rejects.toThrow()
  })

  it('closes when its signal aborts, and refuses a port in use', async () => {
    const host = await startHost()
    const controller = new AbortController()
    const proxy = await startProxy({ address: host.shareUrl, signal: controller.signal })
    await expect(
      createOpenAIProxy({ address: host.shareUrl, port: proxy.port }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' })
    expect((await fetch(`${proxy.url}/models`)).status).toBe(200)
    controller.abort()
    await waitFor(async () => (await fetch(`${proxy.url}/models`).catch(() => null)) == null)
  })

  it('rejects a malformed address at once', async () => {
    await expect(createOpenAIProxy({ address: 'p2p://not-a-peer' })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    })
  })
})
