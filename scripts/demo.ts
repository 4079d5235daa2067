/**
 * `npm run demo`: the whole product on one machine, from a fresh clone. Obtains llama-server
 * (cached build, or builds it) and a tiny scripted model, shares it with createModelHost(),
 * connects a guest through the share URL and streams an answer.
 */
import { connectToModel, createModelHost, llamaCpp } from '../src/index.ts'
import { obtainLlamaServer, obtainTinyModel } from './assets.ts'
import { startLlamaServer } from './run-llama-server.ts'

console.log('Obtaining llama-server (the first run builds it from source: about 6–12 minutes)…')
const binary = await obtainLlamaServer()
const model = await obtainTinyModel('scripted', binary)
const llama = await startLlamaServer({ binary, model })
console.log(`llama-server is up at ${llama.url} with a tiny scripted model (${model})`)

const host = await createModelHost({ backend: llamaCpp({ url: llama.url }) })
console.log(`Host ${host.peerId} is sharing it at\n  ${host.shareUrl}`)

try {
  const guest = await connectToModel(host.shareUrl)
  const prompt = 'Tell me something about sharing models.'
  console.log(`\nGuest asks: ${prompt}\nHost answers:`)
  for await (const chunk of guest.stream({ prompt, max_tokens: 32 }))
    process.stdout.write(chunk.content)
  process.stdout.write('\n\n')
  const info = await guest.info()
  console.log(`(model ${info.model}, context ${info.contextSize} tokens)`)
  await guest.close()
} finally {
  await host.stop()
  await llama.stop()
}
