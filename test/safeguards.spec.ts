/**
 * Host safeguards against real guests and a real llama-server: API keys, connection and
 * request limits, fairness, cancellation, timeouts, monitoring, disconnect and block.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { LlamaServer } from '../scripts/run-llama-server.ts'
import {
  connectToModel,
  createModelHost,
  llamaCpp,
  type ModelHost,
  type ModelHostInit,
  type RemoteModel,
} from '../src/index.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from './fixtures/host.ts'
import { createRawClient } from './fixtures/raw-client.ts'
import { waitFor } from './fixtures/wait.ts'

let llama: LlamaServer
const hosts: ModelHost[] = []
const guests: RemoteModel[] = []

beforeAll(async () => {
  llama = await startScriptedLlamaServer({ parallel: 2 })
})
afterEach(async () => {
  await Promise.all(guests.splice(0).map((guest) => guest.close()))
  await Promise.all(hosts.splice(0).map((host) => host.stop()))
})
afterAll(async () => {
  await llama?.stop()
})

async function startHost(init: Partial<ModelHostInit> = {}): Promise<ModelHost> {
  const host = await createModelHost({ backend: llamaCpp({ url: llama.url }), ...init })
  hosts.push(host)
  return host
}

async function guest(host: ModelHost, apiKey?: string): Promise<RemoteModel> {
  const model = await connectToModel(host.shareUrl, { apiKey })
  guests.push(model)
  return model
}

const ask = { prompt: 'Tell me something', max_tokens: 32 }
/** A generation that runs for seconds: the scripted model repeats itself without end of sequence. */
const long = { prompt: 'Tell me something', max_tokens: 20_000, parameters: { ignore_eos: true } }

describe('API key', () => {
  it('refuses a missing or wrong key and serves the right one (SDK)', async () => {
    const host = await startHost({ apiKey: 'sesame', authFailureDelay: 10 })
    await expect((await guest(host)).complete(ask)).rejects.toMatchObject({
      name: 'UnauthorizedError',
      code: 'UNAUTHORIZED',
      message: expect.stringContaining('requires an API key'),
    })
    await expect((await guest(host, 'wrong')).complete(ask)).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    })
    expect((await (await guest(host, 'sesame')).complete(ask)).content).toBe(SCRIPTED_COMPLETION)
  })

  it('reads the key from the contract apiKey field (raw client)', async () => {
    const host = await startHost({ apiKey: 'sesame', authFailureDelay: 10 })
    const client = await createRawClient(host.multiaddrs[0] as string)
    try {
      expect(await client.request({ prompt: 'Hi', apiKey: 'nope' })).toEqual([
        { success: false, error: 'Wrong API key', code: 'UNAUTHORIZED' },
      ])
      const [ok] = await client.request({ ...ask, apiKey: 'sesame' })
      expect(ok).toMatchObject({ success: true, data: { content: SCRIPTED_COMPLETION } })
    } finally {
      await client.stop()
    }
  })

  it('slows down repeated failures, then disconnects and blocks the peer', async () => {
    const host = await startHost({
      apiKey: 'sesame',
      authFailureDelay: 100,
      maxAuthFailures: 4,
      authBlockDuration: 60_000,
    })
    const model = await guest(host, 'guess')
    const times: number[] = []
    for (let i = 0; i < 3; i++) {
      const started = performance.now()
      await expect(model.complete(ask)).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
      times.push(performance.now() - started)
    }
    // 100, 200, 400 ms: each wrong key waits twice as long as the one before.
    expect(times[0]).toBeGreaterThanOrEqual(95)
    expect(times[1]).toBeGreaterThanOrEqual(195)
    expect(times[2]).toBeGreaterThanOrEqual(395)
    // The fourth wrong key ends it: the peer is refused from now on.
    await expect(model.complete(ask)).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    await waitFor(() => host.connections().length === 0)
    await expect(model.complete(ask)).rejects.toMatchObject({ code: 'CONNECTION_FAILED' })
    // Another guest with the right key is unaffected.
    expect((await (await guest(host, 'sesame')).complete(ask)).content).toBe(SCRIPTED_COMPLETION)
  })
})

describe('maxConnections', () => {
  it('gives guest N+1 TOO_MANY_CONNECTIONS and leaves the first N alone', async () => {
    const host = await startHost({ maxConnections: 2 })
    const first = await guest(host)
    const second = await guest(host)
    await waitFor(() => host.connections().length === 2)
    const third = await guest(host)
    await expect(third.complete(ask)).rejects.toMatchObject({
      name: 'TooManyConnectionsError',
      code: 'TOO_MANY_CONNECTIONS',
    })
    expect((await first.complete(ask)).content).toBe(SCRIPTED_COMPLETION)
    expect((await second.complete(ask)).content).toBe(SCRIPTED_COMPLETION)
    expect(host.connections()).toHaveLength(2)

    // When a guest leaves, the next one gets its place.
    await first.close()
    await waitFor(() => host.connections().length === 1)
    const fourth = await guest(host)
    expect((await fourth.complete(ask)).content).toBe(SCRIPTED_COMPLETION)
  })
})

describe('request limits', () => {
  it('answers a guest over maxRequestsPerPeer with TOO_MANY_REQUESTS', async () => {
    const host = await startHost({ maxRequestsPerPeer: 2, maxConcurrentRequests: 1 })
    const model = await guest(host)
    const controller = new AbortController()
    const running = [0, 1].map(() =>
      model.complete(long, { signal: controller.signal }).catch((e: unknown) => e),
    )
    await waitFor(() => host.stats().activeRequests + host.stats().queuedRequests === 2)
    await expect(model.complete(ask)).rejects.toMatchObject({
      name: 'TooManyRequestsError',
      code: 'TOO_MANY_REQUESTS',
    })
    controller.abort()
    expect(await Promise.all(running)).toEqual([
      expect.objectContaining({ code: 'ABORTED' }),
      expect.objectContaining({ code: 'ABORTED' }),
    ])
  })

  it('serves guests round-robin: a flooding guest does not starve another', {
    timeout: 60_000,
  }, async () => {
    const host = await startHost({ maxConcurrentRequests: 1, maxRequestsPerPeer: 4 })
    const greedy = await guest(host)
    const polite = await guest(host)
    const order: string[] = []
    host.addEventListener('request:end', ({ detail }) =>
      order.push(detail.peerId === polite.localPeerId ? 'P' : 'G'),
    )
    // Each request generates 200 tokens: long enough to queue behind each other.
    const work = { prompt: 'Tell me something', max_tokens: 200, parameters: { ignore_eos: true } }
    let flooding = true
    const flood = Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (flooding) await greedy.complete(work)
      }),
    )
    await waitFor(() => host.stats().queuedRequests >= 3)
    const politeResults: string[] = []
    for (let i = 0; i < 3; i++)
      politeResults.push((await polite.complete({ ...work, max_tokens: 8 })).content)
    flooding = false
    await flood
    expect(politeResults).toHaveLength(3)
    // Between the polite guest's requests at most one greedy request runs (round-robin).
    const politeAt = order
      .map((who, index) => (who === 'P' ? index : -1))
      .filter((index) => index >= 0)
    expect(politeAt).toHaveLength(3)
    for (let i = 1; i < politeAt.length; i++) {
      expect((politeAt[i] as number) - (politeAt[i - 1] as number)).toBeLessThanOrEqual(2)
    }
  })
})

describe('timeouts', () => {
  it('answers a stream that never sends its request with TIMEOUT', async () => {
    const host = await startHost({ requestReadTimeout: 300 })
    const client = await createRawClient(host.multiaddrs[0] as string, 'yamux')
    try {
      const stream = await client.openStream()
      const { lpStream } = await import('@libp2p/utils')
      const frame = await lpStream(stream).read()
      expect(JSON.parse(new TextDecoder().decode(frame.subarray()))).toMatchObject({
        success: false,
        code: 'TIMEOUT',
      })
    } finally {
      await client.stop()
    }
  })

  it('ends a request that runs past requestTimeout with TIMEOUT and stops the backend', async () => {
    const host = await startHost({ requestTimeout: 500 })
    const model = await guest(host)
    await expect(model.complete(long)).rejects.toMatchObject({
      name: 'TimeoutError',
      code: 'TIMEOUT',
    })
    await waitFor(async () => (await llama.slots()).every((slot) => !slot.is_processing), 2000)
  })
})

describe('cancellation reaches llama.cpp', () => {
  it('an aborted stream stops generation within a second or two', async () => {
    const host = await startHost()
    const model = await guest(host)
    const controller = new AbortController()
    let pieces = 0
    const consume = (async () => {
      for await (const _chunk of model.stream(long, { signal: controller.signal })) {
        if (++pieces === 20) controller.abort()
      }
    })()
    await expect(consume).rejects.toMatchObject({ name: 'AbortError', code: 'ABORTED' })
    const abortedAt = Date.now()
    await waitFor(async () => (await llama.slots()).every((slot) => !slot.is_processing), 2000)
    expect(Date.now() - abortedAt).toBeLessThan(2000)
    // The host goes on serving.
    expect((await model.complete(ask)).content).toBe(SCRIPTED_COMPLETION)
  })

  it('breaking out of the loop cancels too', async () => {
    const host = await startHost()
    const model = await guest(host)
    for await (const chunk of model.stream(long)) if (chunk.content !== '') break
    await waitFor(async () => (await llama.slots()).every((slot) => !slot.is_processing), 2000)
  })

  it('a guest that vanishes mid-stream is treated the same', async () => {
    const host = await startHost()
    const model = await connectToModel(host.shareUrl)
    let pieces = 0
    const errors: string[] = []
    host.addEventListener('request:error', ({ detail }) => errors.push(detail.error.code))
    await (async () => {
      for await (const _chunk of model.stream(long)) {
        // Stop the guest's whole libp2p node without a word to the host.
        if (++pieces === 20) await model.close()
      }
    })().catch(() => {})
    await waitFor(async () => (await llama.slots()).every((slot) => !slot.is_processing), 2000)
    await waitFor(() => errors.length === 1)
    expect(errors).toEqual(['ABORTED'])
    await waitFor(() => host.connections().length === 0)
  })
})

describe('monitoring', () => {
  it('reports peers and requests through events, connections() and stats()', async () => {
    const host = await startHost({ logPrompts: false })
    const seen: Record<string, unknown[]> = {}
    for (const type of [
      'peer:connect',
      'peer:disconnect',
      'request:start',
      'request:end',
      'request:error',
    ] as const) {
      seen[type] = []
      host.addEventListener(type, ({ detail }) => seen[type]?.push(detail))
    }
    const model = await guest(host)
    await waitFor(() => seen['peer:connect']?.length === 1)
    expect(seen['peer:connect']).toEqual([
      {
        peerId: model.localPeerId,
        remoteAddr: expect.stringContaining('/ip4/127.0.0.1/'),
        kind: 'direct',
      },
    ])
    await model.complete(ask)
    const chunks: string[] = []
    for await (const chunk of model.stream(ask)) chunks.push(chunk.content)
    await model.complete({ prompt: 'Hi', max_tokens: -1 }).catch(() => {})

    expect(seen['request:start']).toHaveLength(2)
    expect(seen['request:start']?.[0]).toEqual({
      id: 1,
      peerId: model.localPeerId,
      kind: 'completion',
      stream: false,
    })
    const [plain, streamed] = seen['request:end'] as Array<Record<string, number>>
    expect(plain).toMatchObject({ id: 1, stream: false, tokens: 8, chunks: 7 })
    expect(streamed).toMatchObject({ id: 2, stream: true, tokens: 8, chunks: 7 })
    expect(streamed?.timeToFirstToken).toBeGreaterThan(0)
    expect(streamed?.timeToFirstToken).toBeLessThanOrEqual(streamed?.duration as number)
    expect(seen['request:error']).toEqual([
      expect.objectContaining({ error: expect.objectContaining({ code: 'INVALID_REQUEST' }) }),
    ])
    expect(JSON.stringify(seen)).not.toContain('Tell me something')

    const [connection] = host.connections()
    expect(connection).toMatchObject({ kind: 'direct', activeRequests: 0, totalRequests: 2 })
    expect(connection?.since).toBeLessThanOrEqual(Date.now())
    expect(host.stats()).toMatchObject({
      guests: 1,
      activeRequests: 0,
      queuedRequests: 0,
      totalRequests: 2,
      completedRequests: 2,
      failedRequests: 1,
      errors: { INVALID_REQUEST: 1 },
      tokensGenerated: 16,
    })

    await model.close()
    await waitFor(() => seen['peer:disconnect']?.length === 1)
    expect(host.connections()).toEqual([])
  })

  it('puts prompts in request:start only when logPrompts is on', async () => {
    const host = await startHost({ logPrompts: true })
    const prompts: Array<string | undefined> = []
    host.addEventListener('request:start', ({ detail }) => prompts.push(detail.prompt))
    await (await guest(host)).complete(ask)
    expect(prompts).toEqual(['Tell me something'])
  })
})

describe('disconnect and block', () => {
  it('disconnect() drops a guest that may come back; block() keeps it out until unblock()', async () => {
    const host = await startHost()
    const model = await guest(host)
    await model.complete(ask)
    await host.disconnect(model.localPeerId)
    await waitFor(() => host.connections().length === 0)
    // The SDK redials on the next call.
    expect((await model.complete(ask)).content).toBe(SCRIPTED_COMPLETION)

    const guestId = model.localPeerId
    expect(host.connections().map((c) => c.peerId)).toEqual([guestId])
    await host.block(guestId)
    await waitFor(() => host.connections().length === 0)
    await expect(model.complete(ask)).rejects.toMatchObject({ code: 'CONNECTION_FAILED' })
    host.unblock(guestId)
    expect((await model.complete(ask)).content).toBe(SCRIPTED_COMPLETION)
  })

  it('allowPeers admits only the peers named', async () => {
    const friendKey = await generateKeyPair('Ed25519')
    const host = await startHost({ allowPeers: [peerIdFromPrivateKey(friendKey).toString()] })
    const friend = await connectToModel(host.shareUrl, { privateKey: friendKey })
    guests.push(friend)
    expect((await friend.complete(ask)).content).toBe(SCRIPTED_COMPLETION)
    const stranger = await guest(host).catch((err: unknown) => err)
    if (stranger instanceof Error) expect(stranger).toMatchObject({ code: 'CONNECTION_FAILED' })
    else
      await expect((stranger as RemoteModel).complete(ask)).rejects.toMatchObject({
        code: 'CONNECTION_FAILED',
      })
    expect(host.connections().map((c) => c.peerId)).toEqual([friend.localPeerId])
  })
})
