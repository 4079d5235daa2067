/**
 * A minimal page script: connect to a shared model from a browser and stream one chat answer.
 * Bundle it with any bundler (esbuild, Vite, webpack pick the browser build of 'p2p-llm') and
 * load it from a page:
 *
 *   npx esbuild docs/samples/browser-guest.ts --bundle --format=esm --outfile=guest.js
 *   <!doctype html><pre id="answer"></pre><script type="module" src="guest.js"></script>
 *
 * then open `page.html#url=p2p://12D3KooW…@192.168.1.20:4001&key=secret` (the fragment never
 * leaves the browser, so the key is not sent to the web server).
 *
 * In your own project import from 'p2p-llm'. This file imports the source tree instead, so it
 * runs from a clone without `npm run build` (test/browser/docs-sample.spec.ts runs it).
 */
import { connectToModel } from '../../src/browser.ts'

const params = new URLSearchParams(location.hash.slice(1))
const shareUrl = params.get('url') ?? ''
const output =
  document.getElementById('answer') ?? document.body.appendChild(document.createElement('pre'))

try {
  const model = await connectToModel(shareUrl, { apiKey: params.get('key') ?? undefined })
  try {
    const { model: name } = await model.info()
    output.textContent = `${name} (${model.connection.kind}):`
    const messages = [{ role: 'user', content: 'What are you good at?' }]
    for await (const chunk of model.chatStream({ messages, max_tokens: 64 })) {
      output.textContent += chunk.content // token by token
    }
  } finally {
    await model.close()
  }
} catch (err) {
  // Failures carry the wire code: UNAUTHORIZED, TOO_MANY_CONNECTIONS, CONNECTION_FAILED, …
  const { code, message } = err as { code?: string; message: string }
  output.textContent = `Failed (${code ?? 'error'}): ${message}`
} finally {
  document.body.dataset.done = 'true'
}
