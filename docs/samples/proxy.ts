/**
 * The OpenAI-compatible proxy with the official `openai` client: the sample shares an echoing
 * backend with `createModelHost`, puts `createOpenAIProxy` in front of its share URL, talks to
 * it through `openai` (a real HTTP server, a real libp2p connection on loopback), prints what
 * it gets and exits.
 *
 *   node --import tsx docs/samples/proxy.ts
 *
 * In your own project import from 'p2p-llm' (and `npm i openai`). This file imports the source
 * tree instead, so it runs from a clone without `npm run build` (see docs/proxy.md).
 */
import OpenAI from 'openai'
import { createModelHost, createOpenAIProxy, type ModelBackend } from '../../src/index.ts'

/** Echoes the last message (or the prompt) word by word, and counts like llama.cpp does. */
const echo: ModelBackend = {
  async *generate(request, { signal }) {
    const text = request.prompt ?? request.messages?.at(-1)?.content ?? ''
    const words = text.split(' ').slice(0, request.max_tokens)
    for (const [i, word] of words.entries()) {
      signal.throwIfAborted()
      yield { content: i === 0 ? word : ` ${word}` }
    }
    const finish_reason = words.length < text.split(' ').length ? 'length' : 'stop'
    yield {
      content: '',
      stop: true,
      finish_reason,
      tokens_evaluated: 3,
      tokens_predicted: words.length,
    }
  },
  async info() {
    return { model: 'echo-1' }
  },
}

const host = await createModelHost({ backend: echo })
// On another machine this is the share URL you were given; `apiKey` is what apps must send.
const proxy = await createOpenAIProxy({ address: host.shareUrl, apiKey: 'sk-local' })
const openai = new OpenAI({ baseURL: proxy.url, apiKey: 'sk-local' })
try {
  const models = await openai.models.list()
  console.log(`models: ${models.data.map((model) => model.id).join(', ')}`)

  const reply = await openai.chat.completions.create({
    model: 'echo-1',
    messages: [{ role: 'user', content: 'peer to peer models share well' }],
  })
  const { message, finish_reason } = reply.choices[0] as OpenAI.ChatCompletion.Choice
  console.log(`chat: ${message.content} (${finish_reason}, ${reply.usage?.total_tokens} tokens)`)

  const stream = await openai.chat.completions.create({
    model: 'echo-1',
    messages: [{ role: 'user', content: 'one two three' }],
    stream: true,
  })
  const pieces: string[] = []
  for await (const chunk of stream) {
    const choice = chunk.choices[0]
    if (choice?.finish_reason != null) pieces.push(`<${choice.finish_reason}>`)
    else if (choice?.delta.content) pieces.push(JSON.stringify(choice.delta.content))
  }
  console.log(`stream: ${pieces.join(' ')}`)

  const completion = await openai.completions.create({
    model: 'echo-1',
    prompt: 'a b c d e',
    max_tokens: 2,
  })
  console.log(
    `completion: ${completion.choices[0]?.text} (${completion.choices[0]?.finish_reason})`,
  )

  await openai.chat.completions.create({ model: 'echo-1', messages: [] }).catch((err: unknown) => {
    if (!(err instanceof OpenAI.BadRequestError)) throw err
    console.log(`error: ${err.status} ${err.code} (${err.param})`)
  })
} finally {
  await proxy.close()
  await host.stop()
}
