/**
 * The round trip every llama-server-backed adapter must pass, through a real host and a real
 * guest: complete, stream, chat, chatStream, info, cancellation, errors. Each spec file starts
 * its own llama-server and runs this suite against it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LlamaServer } from '../../scripts/run-llama-server.ts'
import {
  type CompletionChunk,
  connectToModel,
  createModelHost,
  type ModelBackend,
  type ModelHost,
  type RemoteModel,
} from '../../src/index.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from '../fixtures/host.ts'
import { waitFor } from '../fixtures/wait.ts'

export { waitFor }

/** How llama-server splits SCRIPTED_COMPLETION into streamed pieces (one token each). */
export const SCRIPTED_PIECES = [' Pe', 'er', ' to', ' peer', ' models', ' share', ' well']

export const ask = { prompt: 'Tell me something', max_tokens: 32 }
export const askChat = {
  messages: [{ role: 'user', content: 'Tell me something' }],
  max_tokens: 32,
}
/** Runs for seconds: the scripted model repeats itself (no end of sequence, context shifting). */
export const long = { max_tokens: 20_000, parameters: { ignore_eos: true } }

/**
 * Starts llama-server for a backend spec. `--context-shift` lets a generation run past the
 * 1024-token slot context: without it an `ignore_eos` generation ends by itself after ~1000
 * tokens (under a second), and a cancellation test could not tell cancelled from finished.
 */
export function startLlamaForBackends(socketPath?: string): Promise<LlamaServer> {
  return startScriptedLlamaServer({
    args: ['--context-shift'],
    ...(socketPath ? { socketPath } : {}),
  })
}

export interface BackendUnderTest {
  /** The llama-server the backend talks to (started by the spec file's `beforeAll`). */
  llama(): LlamaServer
  /** The adapter under test, pointed at `llama()`. */
  backend(): ModelBackend
  /** The same adapter pointed at a server that is not there. */
  unreachable(): ModelBackend | Promise<ModelBackend>
  /** What the guest's `info()` must equal. */
  info(): Record<string, unknown>
  /** Fields the last chunk of a `prompt` reply must have (besides content and stop). */
  completionFinal: Record<string, unknown>
  /** Fields the last chunk of a `messages` reply must have. */
  chatFinal: Record<string, unknown>
}

async function collect(chunks: AsyncIterable<CompletionChunk>): Promise<CompletionChunk[]> {
  const all: CompletionChunk[] = []
  for await (const chunk of chunks) all.push(chunk)
  return all
}

function expectScriptedStream(chunks: CompletionChunk[], final: Record<string, unknown>): void {
  expect(chunks.map((chunk) => chunk.content).join('')).toBe(SCRIPTED_COMPLETION)
  expect(chunks.map((chunk) => chunk.content).filter((piece) => piece !== '')).toEqual(
    SCRIPTED_PIECES,
  )
  expect(chunks.slice(0, -1).every((chunk) => chunk.stop === false)).toBe(true)
  expect(chunks.at(-1)).toMatchObject({ stop: true, ...final })
}

export function describeBackendRoundTrip(name: string, subject: BackendUnderTest): void {
  describe(name, () => {
    let backend: ModelBackend
    let host: ModelHost
    let model: RemoteModel

    beforeAll(async () => {
      backend = subject.backend()
      host = await createModelHost({ backend })
      model = await connectToModel(host.shareUrl)
    })
    afterAll(async () => {
      await model?.close()
      await host?.stop()
      await backend?.close?.()
    })

    it('complete() answers a prompt with the scripted reply', async () => {
      const res = await model.complete(ask)
      expect(res).toMatchObject({
        content: SCRIPTED_COMPLETION,
        stop: true,
        ...subject.completionFinal,
      })
    })

    it('stream() yields the scripted pieces, the last with stop', async () => {
      expectScriptedStream(await collect(model.stream(ask)), subject.completionFinal)
    })

    it('chat() answers the messages with the scripted reply', async () => {
      const res = await model.chat(askChat)
      expect(res).toMatchObject({ content: SCRIPTED_COMPLETION, stop: true, ...subject.chatFinal })
    })

    it('chatStream() yields the scripted pieces, the last with stop', async () => {
      expectScriptedStream(await collect(model.chatStream(askChat)), subject.chatFinal)
    })

    it('stops at max_tokens with finish_reason length', async () => {
      const res = await model.complete({ ...ask, max_tokens: 2 })
      expect(res).toMatchObject({ content: ' Peer', finish_reason: 'length' })
      const chat = await model.chat({ ...askChat, max_tokens: 3 })
      expect(chat).toMatchObject({ content: ' Peer to', finish_reason: 'length' })
    })

    it('info() describes the model', async () => {
      expect(await model.info()).toEqual(subject.info())
    })

    it.each([
      ['stream', () => ({ ...ask, ...long }), 'stream'],
      ['chatStream', () => ({ ...askChat, ...long }), 'chatStream'],
    ] as const)(
      'aborting %s mid-generation stops llama-server at once',
      async (_name, request, call) => {
        const llama = subject.llama()
        const controller = new AbortController()
        let pieces = 0
        let busy = false
        const consume = (async () => {
          const chunks =
            call === 'stream'
              ? model.stream(request(), { signal: controller.signal })
              : model.chatStream(request() as typeof askChat, { signal: controller.signal })
          for await (const _chunk of chunks) {
            if (++pieces === 5) {
              busy = (await llama.slots()).some((slot) => slot.is_processing)
              controller.abort()
            }
          }
        })()
        await expect(consume).rejects.toMatchObject({ name: 'AbortError', code: 'ABORTED' })
        // The generation was running (it would for seconds more) and ends within 2 s of the abort.
        expect(busy).toBe(true)
        await waitFor(async () => (await llama.slots()).every((slot) => !slot.is_processing), 2000)
        // The host serves on.
        expect((await model.complete(ask)).content).toBe(SCRIPTED_COMPLETION)
      },
    )

    it("gives llama-server's rejection of a bad parameter as BACKEND_ERROR", async () => {
      const bad = { parameters: { n_probs: 'many' } }
      const message = expect.stringContaining("Field 'n_probs'")
      await expect(model.complete({ ...ask, ...bad })).rejects.toMatchObject({
        name: 'BackendError',
        code: 'BACKEND_ERROR',
        message,
      })
      await expect(collect(model.chatStream({ ...askChat, ...bad }))).rejects.toMatchObject({
        code: 'BACKEND_ERROR',
        message,
      })
    })

    it('gives BACKEND_UNAVAILABLE when the server is not there', async () => {
      const dead = await subject.unreachable()
      const deadHost = await createModelHost({ backend: dead })
      const guest = await connectToModel(deadHost.shareUrl)
      try {
        const unavailable = { name: 'BackendUnavailableError', code: 'BACKEND_UNAVAILABLE' }
        await expect(guest.complete(ask)).rejects.toMatchObject(unavailable)
        await expect(collect(guest.chatStream(askChat))).rejects.toMatchObject(unavailable)
        await expect(guest.info()).rejects.toMatchObject(unavailable)
      } finally {
        await guest.close()
        await deadHost.stop()
        await dead.close?.()
      }
    })
  })
}
