/**
 * A custom backend in a few lines: it answers with the words of the prompt in reverse order.
 * The sample shares it with `createModelHost`, asks it through `connectToModel` (a real libp2p
 * connection on loopback), prints the replies and exits.
 *
 *   node --import tsx docs/samples/custom-backend.ts
 *
 * In your own project import from 'p2p-llm'. This file imports the source tree instead, so it
 * runs from a clone without `npm run build` (see docs/backends.md).
 */
import {
  connectToModel,
  createModelHost,
  type GenerateChunk,
  type GenerateOptions,
  type GenerateRequest,
  type ModelBackend,
} from '../../src/index.ts'

const reverser: ModelBackend = {
  specificationVersion: 'p2p-llm.backend.v1',
  provider: 'reverser',

  async *generate(
    request: GenerateRequest,
    { signal }: GenerateOptions,
  ): AsyncGenerator<GenerateChunk> {
    // A chat request carries `messages` instead of `prompt`: answer the last one.
    const text = request.prompt ?? request.messages?.at(-1)?.content ?? ''
    const words = text
      .split(/\s+/)
      .filter((word) => word !== '')
      .reverse()
    for (const [i, word] of words.entries()) {
      signal.throwIfAborted() // the guest cancelled: stop at once
      yield { content: i === 0 ? word : ` ${word}` }
    }
    // The last chunk may carry the backend's own fields; they reach the guest.
    yield { content: '', stop: true, finish_reason: 'stop', words: words.length }
  },

  async info() {
    return { model: 'reverser-1', capabilities: ['completion', 'chat', 'stream'] }
  },
}

const host = await createModelHost({ backend: reverser })
const model = await connectToModel(host.shareUrl)
try {
  console.log(`model: ${(await model.info()).model}`)

  const reply = await model.complete({ prompt: 'peer to peer models share well' })
  console.log(`complete: ${reply.content} (${reply.words} words)`)

  const pieces: string[] = []
  for await (const chunk of model.stream({ prompt: 'one two three' })) {
    pieces.push(chunk.stop ? '<stop>' : JSON.stringify(chunk.content))
  }
  console.log(`stream: ${pieces.join(' ')}`)

  const answer = await model.chat({ messages: [{ role: 'user', content: 'are you how' }] })
  console.log(`chat: ${answer.content}`)
} finally {
  await model.close()
  await host.stop()
}
