/**
 * The browser build of the guest in real Chromium: it reaches a host through its share URL,
 * via a separate hub (WebRTC) and via a host that is its own hub (WebSockets), streams a
 * completion from a real llama-server, and reports a wrong API key.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LlamaServer } from '../../scripts/run-llama-server.ts'
import {
  createModelHost,
  createRelay,
  llamaCpp,
  type ModelHost,
  type Relay,
} from '../../src/index.ts'
import {
  bundleForBrowser,
  launchChromium,
  type StaticServer,
  serveStatic,
  type TestBrowser,
} from '../fixtures/browser.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from '../fixtures/host.ts'

let llama: LlamaServer
let relay: Relay
let ownHub: ModelHost
let behindHub: ModelHost
let chromium: TestBrowser
let site: StaticServer
let page: Page

beforeAll(async () => {
  llama = await startScriptedLlamaServer()
  relay = await createRelay()
  const backend = llamaCpp({ url: llama.url })
  ownHub = await createModelHost({ backend, apiKey: 'sesame', authFailureDelay: 1 })
  behindHub = await createModelHost({ backend, signalling: relay.address, iceServers: [] })
  const script = await bundleForBrowser('test/browser/fixtures/guest-page.ts')
  site = await serveStatic({
    '/index.html':
      '<!doctype html><html><body><script type="module" src="/guest.js"></script></body></html>',
    '/guest.js': script,
  })
  chromium = await launchChromium()
  page = await chromium.browser.newPage()
  page.on('pageerror', (err) => console.error('page error:', err))
  await page.goto(site.url)
  await page.waitForFunction(() => document.body.dataset.ready === 'true')
}, 120_000)

afterAll(async () => {
  await chromium?.close()
  await site?.close()
  await behindHub?.stop()
  await ownHub?.stop()
  await relay?.stop()
  await llama?.stop()
})

/** Connects from the page and streams one completion; returns what the page saw. */
function streamInPage(shareUrl: string, apiKey?: string) {
  return page.evaluate(
    async ({ shareUrl, apiKey }) => {
      const started = performance.now()
      const model = await window.p2pllm.connectToModel(shareUrl, { apiKey, iceServers: [] })
      const connectMs = performance.now() - started
      const pieces: string[] = []
      try {
        for await (const chunk of model.stream({ prompt: 'Tell me something', max_tokens: 32 })) {
          pieces.push(chunk.content)
        }
        const info = await model.info()
        return { kind: model.connection.kind, pieces, model: info.model, connectMs }
      } finally {
        await model.close()
      }
    },
    { shareUrl, apiKey },
  )
}

describe('browser guest in Chromium', () => {
  it('reaches a host that is its own hub over WebSockets and streams a completion', async () => {
    const result = await streamInPage(ownHub.shareUrl, 'sesame')
    expect(result.kind).toBe('direct')
    expect(result.pieces.join('')).toBe(SCRIPTED_COMPLETION)
    expect(result.pieces.length).toBeGreaterThan(3)
    expect(result.model).toMatch(/\.gguf$/)
  })

  it('reaches a host through a separate hub over WebRTC', async () => {
    const result = await streamInPage(behindHub.shareUrl)
    expect(result.kind).toBe('webrtc')
    expect(result.pieces.join('')).toBe(SCRIPTED_COMPLETION)
  })

  it('reports a wrong API key as UNAUTHORIZED', async () => {
    const error = await page.evaluate(async (shareUrl) => {
      const model = await window.p2pllm.connectToModel(shareUrl, { apiKey: 'wrong' })
      try {
        await model.complete({ prompt: 'Hi' })
        return null
      } catch (err) {
        return {
          name: (err as Error).name,
          code: (err as { code?: string }).code,
          message: (err as Error).message,
        }
      } finally {
        await model.close()
      }
    }, ownHub.shareUrl)
    expect(error).toEqual({
      name: 'UnauthorizedError',
      code: 'UNAUTHORIZED',
      message: 'Wrong API key',
    })
  })

  it('cancels a generation with an AbortSignal', async () => {
    const outcome = await page.evaluate(async (shareUrl) => {
      const model = await window.p2pllm.connectToModel(shareUrl, { apiKey: 'sesame' })
      const controller = new AbortController()
      let pieces = 0
      try {
        const request = {
          prompt: 'Tell me something',
          max_tokens: 20_000,
          parameters: { ignore_eos: true },
        }
        for await (const _chunk of model.stream(request, { signal: controller.signal })) {
          if (++pieces === 10) controller.abort()
        }
        return 'finished'
      } catch (err) {
        return (err as { code?: string }).code
      } finally {
        await model.close()
      }
    }, ownHub.shareUrl)
    expect(outcome).toBe('ABORTED')
    const deadline = Date.now() + 2000
    while ((await llama.slots()).some((slot) => slot.is_processing)) {
      if (Date.now() > deadline) throw new Error('llama-server kept generating')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })
})
