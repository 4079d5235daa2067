/**
 * docs/samples/browser-guest.ts, bundled as an app's bundler would and loaded into real
 * Chromium, reaches a real host (llama-server on the scripted model) and streams its answer.
 */
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { LlamaServer } from '../../scripts/run-llama-server.ts'
import { createModelHost, llamaCpp, type ModelHost } from '../../src/index.ts'
import {
  bundleForBrowser,
  launchChromium,
  type StaticServer,
  serveStatic,
  type TestBrowser,
} from '../fixtures/browser.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from '../fixtures/host.ts'

let llama: LlamaServer
let host: ModelHost
let chromium: TestBrowser
let site: StaticServer

beforeAll(async () => {
  llama = await startScriptedLlamaServer()
  host = await createModelHost({ backend: llamaCpp({ url: llama.url }), apiKey: 'secret' })
  site = await serveStatic({
    '/index.html':
      '<!doctype html><pre id="answer"></pre><script type="module" src="guest.js"></script>',
    '/guest.js': await bundleForBrowser('docs/samples/browser-guest.ts'),
  })
  chromium = await launchChromium()
}, 120_000)

afterAll(async () => {
  await chromium?.close()
  await site?.close()
  await host?.stop()
  await llama?.stop()
})

async function run(browser: Browser, fragment: string): Promise<string> {
  const page = await browser.newPage()
  try {
    await page.goto(`${site.url}/#${fragment}`)
    await page.waitForFunction(() => document.body.dataset.done === 'true', undefined, {
      timeout: 20_000,
    })
    return (await page.locator('#answer').textContent()) ?? ''
  } finally {
    await page.close()
  }
}

it('docs/samples/browser-guest.ts streams a chat answer from a real host', async () => {
  const answer = await run(chromium.browser, `url=${host.shareUrl}&key=secret`)
  const [model, reply] = answer.split(' (direct):')
  expect(model).toMatch(/tiny-scripted-.*\.gguf$/)
  expect(reply).toBe(SCRIPTED_COMPLETION)
})

it('docs/samples/browser-guest.ts shows the code of a failure', async () => {
  expect(await run(chromium.browser, `url=${host.shareUrl}&key=wrong`)).toBe(
    'Failed (UNAUTHORIZED): Wrong API key',
  )
})
