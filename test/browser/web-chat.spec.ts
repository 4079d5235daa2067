/**
 * The web chat page (src/web) in real Chromium, built by scripts/build-web.ts and served by the
 * `p2p-llm web` server code, against hosts on a real llama-server: connect, chat with history,
 * stop a generation, the error messages, WebRTC through a hub, and the `web` command itself.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildWebPage } from '../../scripts/build-web.ts'
import type { LlamaServer } from '../../scripts/run-llama-server.ts'
import { serveWebPage, type WebPageServer } from '../../src/cli/web.ts'
import {
  BackendUnavailableError,
  type ChatMessage,
  connectToModel,
  createModelHost,
  createRelay,
  type GenerateRequest,
  llamaCpp,
  type ModelBackend,
  type ModelHost,
  type Relay,
  type RemoteModel,
} from '../../src/index.ts'
import { launchChromium, type TestBrowser } from '../fixtures/browser.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from '../fixtures/host.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const SCREENSHOT = join(root, 'docs/screenshots/web-chat.png')
const REPLY = SCRIPTED_COMPLETION.trim()

let llama: LlamaServer
let relay: Relay
/** Its own hub, with an API key; records the chat histories it is sent. */
let ownHub: ModelHost
/** Behind a separate hub, no STUN: guests reach it over WebRTC. */
let behindHub: ModelHost
/** Generates until stopped. */
let endless: ModelHost
let webDir: string
let web: WebPageServer
let chromium: TestBrowser
let context: BrowserContext
const histories: ChatMessage[][] = []

beforeAll(async () => {
  llama = await startScriptedLlamaServer()
  relay = await createRelay()
  const backend = llamaCpp({ url: llama.url })
  const recording: ModelBackend = {
    ...backend,
    generate: (request, options) => {
      if (request.messages != null) histories.push(request.messages)
      return backend.generate(request, options)
    },
  }
  const neverStops: ModelBackend = {
    ...backend,
    generate: (request: GenerateRequest, options) =>
      backend.generate(
        { ...request, max_tokens: 20_000, parameters: { ...request.parameters, ignore_eos: true } },
        options,
      ),
  }
  ownHub = await createModelHost({ backend: recording, apiKey: 'sesame', authFailureDelay: 1 })
  behindHub = await createModelHost({ backend, signalling: relay.address, iceServers: [] })
  endless = await createModelHost({ backend: neverStops })
  webDir = await mkdtemp(join(tmpdir(), 'p2p-llm-web-test-'))
  await buildWebPage({ outDir: webDir })
  web = await serveWebPage({ dir: webDir })
  chromium = await launchChromium()
  context = await chromium.browser.newContext({ viewport: { width: 1000, height: 700 } })
}, 120_000)

afterAll(async () => {
  await chromium?.close()
  await web?.close()
  if (webDir != null) await rm(webDir, { recursive: true, force: true })
  await endless?.stop()
  await behindHub?.stop()
  await ownHub?.stop()
  await relay?.stop()
  await llama?.stop()
})

async function openPage(suffix = ''): Promise<Page> {
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error('page error:', err))
  await page.goto(`${web.url}${suffix}`)
  await page.waitForSelector('#app[data-ready="true"]')
  return page
}

interface ConnectInput {
  apiKey?: string
  noStun?: boolean
}

/** Fills the form and clicks Connect; resolves once connected or an error shows. */
async function connect(page: Page, shareUrl: string, input: ConnectInput = {}): Promise<void> {
  await page.getByTestId('share-url').fill(shareUrl)
  await page.getByTestId('api-key').fill(input.apiKey ?? '')
  await page.getByTestId('no-stun').setChecked(input.noStun === true)
  await page.getByTestId('connect').click()
  await page.waitForSelector('#status[data-state="connected"], #error:not([hidden])', {
    timeout: 20_000,
  })
}

const statusOf = (page: Page) => page.getByTestId('status').getAttribute('data-state')
const errorOf = (page: Page) => page.getByTestId('error').textContent()
const assistantTurns = (page: Page) => page.getByTestId('assistant-message')

/** Types a message and sends it with Enter; resolves when the reply has finished. */
async function say(page: Page, text: string): Promise<string> {
  const before = await assistantTurns(page).count()
  await page.getByTestId('prompt').fill(text)
  await page.getByTestId('prompt').press('Enter')
  const turn = assistantTurns(page).nth(before)
  await turn.and(page.locator('[data-state="done"], [data-state="error"]')).waitFor()
  return (await turn.getByTestId('message-text').textContent()) ?? ''
}

async function waitForIdleSlots(deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while ((await llama.slots()).some((slot) => slot.is_processing)) {
    if (Date.now() > deadline) throw new Error('llama-server kept generating')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('web chat page in Chromium', () => {
  it('connects directly, shows the model, streams replies and sends the whole history', async () => {
    const page = await openPage()
    expect(await page.title()).toBe('p2p-llm chat')
    await connect(page, ownHub.shareUrl, { apiKey: 'sesame' })
    expect(await statusOf(page)).toBe('connected')
    expect(await page.getByTestId('connection-kind').textContent()).toBe('direct')
    expect(await page.getByTestId('model-name').textContent()).toMatch(/\.gguf$/)
    expect(await page.getByTestId('send').isEnabled()).toBe(true)

    histories.length = 0
    expect(await say(page, 'Hello! What is this?')).toBe(REPLY)
    // Shift+Enter is a new line, not a send.
    await page.getByTestId('prompt').fill('Tell me more')
    await page.getByTestId('prompt').press('Shift+Enter')
    await page.getByTestId('prompt').pressSequentially('about sharing.')
    expect(await page.getByTestId('prompt').inputValue()).toBe('Tell me more\nabout sharing.')
    expect(await assistantTurns(page).count()).toBe(1)
    await page.getByTestId('send').click()
    const second = assistantTurns(page).nth(1)
    await second.and(page.locator('[data-state="done"]')).waitFor()
    expect(await second.getByTestId('message-text').textContent()).toBe(REPLY)
    const userTexts = page.getByTestId('user-message').getByTestId('message-text')
    expect(await userTexts.allTextContents()).toEqual([
      'Hello! What is this?',
      'Tell me more\nabout sharing.',
    ])
    expect(histories).toEqual([
      [{ role: 'user', content: 'Hello! What is this?' }],
      [
        { role: 'user', content: 'Hello! What is this?' },
        { role: 'assistant', content: REPLY },
        { role: 'user', content: 'Tell me more\nabout sharing.' },
      ],
    ])

    const shot = await page.screenshot()
    if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(SCREENSHOT)) {
      await mkdir(join(root, 'docs/screenshots'), { recursive: true })
      await writeFile(SCREENSHOT, shot)
    }

    // New chat forgets the history; Disconnect and Connect again recovers the session.
    await page.getByTestId('new-chat').click()
    expect(await page.getByTestId('user-message').count()).toBe(0)
    await page.getByTestId('disconnect').click()
    expect(await statusOf(page)).toBe('disconnected')
    expect(await page.getByTestId('send').isDisabled()).toBe(true)
    await page.getByTestId('connect').click()
    await page.waitForSelector('#status[data-state="connected"]')
    histories.length = 0
    expect(await say(page, 'Hi again')).toBe(REPLY)
    expect(histories).toEqual([[{ role: 'user', content: 'Hi again' }]])
    await page.close()
  })

  it('prefills the share URL from ?url= and from the # fragment', async () => {
    const shareUrl = `${behindHub.shareUrl}?secure=0`
    const fromQuery = await openPage(`?url=${encodeURIComponent(shareUrl)}`)
    expect(await fromQuery.getByTestId('share-url').inputValue()).toBe(shareUrl)
    await fromQuery.close()
    const fromHash = await openPage(`#${encodeURI(shareUrl)}`)
    expect(await fromHash.getByTestId('share-url').inputValue()).toBe(shareUrl)
    await fromHash.close()
  })

  it('Stop cancels a generation: the reply stops growing and llama-server goes idle', async () => {
    const page = await openPage()
    await connect(page, endless.shareUrl)
    expect(await statusOf(page)).toBe('connected')
    await page.getByTestId('prompt').fill('Go on forever')
    await page.getByTestId('send').click()
    const turn = assistantTurns(page).first()
    const text = turn.getByTestId('message-text')
    expect(await turn.getAttribute('data-state')).toBe('streaming')
    // Token by token: the reply grows while it streams.
    await page.waitForFunction(
      () =>
        (document.querySelector('[data-testid="assistant-message"]')?.textContent ?? '').length >
        200,
    )
    expect(await page.getByTestId('send').isHidden()).toBe(true)
    await page.getByTestId('stop').click()
    await turn.and(page.locator('[data-state="stopped"]')).waitFor()
    expect(await turn.getByTestId('turn-note').textContent()).toBe('Stopped')
    await waitForIdleSlots(2000)
    const stoppedAt = (await text.textContent()) ?? ''
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await text.textContent()).toBe(stoppedAt)
    expect(stoppedAt.startsWith(REPLY)).toBe(true)
    expect(await page.getByTestId('stop').isHidden()).toBe(true)
    expect(await page.getByTestId('send').isVisible()).toBe(true)
    expect(await statusOf(page)).toBe('connected')
    expect(await page.getByTestId('error').isHidden()).toBe(true)
    await page.close()
  })

  it('says "Wrong API key" for a wrong key, and connects once it is right', async () => {
    const page = await openPage()
    await connect(page, ownHub.shareUrl, { apiKey: 'wrong' })
    expect(await errorOf(page)).toBe('Wrong API key.')
    expect(await statusOf(page)).toBe('disconnected')
    await connect(page, ownHub.shareUrl)
    expect(await errorOf(page)).toBe('This host needs an API key.')
    await connect(page, ownHub.shareUrl, { apiKey: 'sesame' })
    expect(await statusOf(page)).toBe('connected')
    expect(await page.getByTestId('error').isHidden()).toBe(true)
    await page.close()
  })

  it('says the host is full when its only guest slot is taken', async () => {
    const full = await createModelHost({
      backend: llamaCpp({ url: llama.url }),
      maxConnections: 1,
    })
    let other: RemoteModel | undefined
    const page = await openPage()
    try {
      other = await connectToModel(full.shareUrl)
      await other.info()
      await connect(page, full.shareUrl)
      expect(await errorOf(page)).toMatch(/^The host is full/)
      expect(await statusOf(page)).toBe('disconnected')
    } finally {
      await page.close()
      await other?.close()
      await full.stop()
    }
  })

  it('says it could not reach a stopped host, before and during a session', async () => {
    const gone = await createModelHost({ backend: llamaCpp({ url: llama.url }) })
    const page = await openPage()
    await connect(page, gone.shareUrl)
    expect(await statusOf(page)).toBe('connected')
    await gone.stop()
    await page.getByTestId('prompt').fill('Are you there?')
    await page.getByTestId('prompt').press('Enter')
    await page.waitForSelector('#status[data-state="disconnected"]', { timeout: 20_000 })
    expect(await errorOf(page)).toMatch(/^Could not reach the host/)
    // The unsent message is offered again.
    expect(await page.getByTestId('prompt').inputValue()).toBe('Are you there?')

    await page.getByTestId('connect').click()
    await page.waitForSelector('#error:not([hidden])')
    expect(await statusOf(page)).toBe('disconnected')
    expect(await errorOf(page)).toMatch(/^Could not reach the host/)

    // Recovery: another host, same page.
    await connect(page, ownHub.shareUrl, { apiKey: 'sesame' })
    expect(await statusOf(page)).toBe('connected')
    expect(await say(page, 'Hello')).toBe(REPLY)
    await page.close()
  })

  it("says the host's model is not running, and stays connected", async () => {
    const dead = await createModelHost({ backend: llamaCpp({ url: 'http://127.0.0.1:1' }) })
    const flaky = await createModelHost({
      backend: {
        info: async () => ({ model: 'flaky.gguf' }),
        // biome-ignore lint/correctness/useYield: fails before its first piece
        generate: async function* () {
          throw new BackendUnavailableError('llama-server is not running')
        },
      },
    })
    const page = await openPage()
    try {
      await connect(page, dead.shareUrl)
      expect(await errorOf(page)).toBe("The host's model is not running.")
      expect(await statusOf(page)).toBe('disconnected')

      await connect(page, flaky.shareUrl)
      expect(await page.getByTestId('model-name').textContent()).toBe('flaky.gguf')
      expect(await say(page, 'Anyone home?')).toBe("The host's model is not running.")
      expect(await assistantTurns(page).first().getAttribute('data-state')).toBe('error')
      expect(await errorOf(page)).toBe("The host's model is not running.")
      expect(await statusOf(page)).toBe('connected')
      expect(await page.getByTestId('prompt').inputValue()).toBe('Anyone home?')
    } finally {
      await page.close()
      await flaky.stop()
      await dead.stop()
    }
  })

  it('reaches a host behind a separate hub over WebRTC with no STUN servers', async () => {
    const page = await openPage()
    await connect(page, behindHub.shareUrl, { noStun: true })
    expect(await statusOf(page)).toBe('connected')
    expect(await page.getByTestId('connection-kind').textContent()).toBe('WebRTC')
    expect(await page.getByTestId('status').getAttribute('data-kind')).toBe('webrtc')
    expect(await say(page, 'Hello over WebRTC')).toBe(REPLY)
    await page.close()
  })

  it('a share URL that is not one is reported as such', async () => {
    const page = await openPage()
    await connect(page, 'http://example.com/')
    expect(await errorOf(page)).toMatch(/p2p:\/\//)
    expect(await statusOf(page)).toBe('disconnected')
    await page.close()
  })
})

describe('p2p-llm web', () => {
  let child: ChildProcess | undefined

  afterAll(() => {
    child?.kill('SIGTERM')
  })

  it('serves the page on 127.0.0.1 and prints its URL, with the share URL prefilled', async () => {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', 'web', '--port', '0', ownHub.shareUrl],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    child.stderr?.on('data', (data: Buffer) => {
      output += data.toString()
    })
    const link = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed: ${output}`)), 30_000)
      child?.stdout?.on('data', (data: Buffer) => {
        output += data.toString()
        const match = /Web chat: (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(output)
        if (match?.[1] != null) {
          clearTimeout(timer)
          resolve(match[1])
        }
      })
      child?.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)))
    })
    const base = new URL('/', link).href
    const index = await fetch(base)
    expect(index.status).toBe(200)
    expect(index.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await index.text()).toContain('<script type="module" src="app.js">')
    const script = await fetch(new URL('app.js', base))
    expect(script.status).toBe(200)
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect((await fetch(new URL('/../package.json', base))).status).toBe(404)
    expect((await fetch(new URL('/%2e%2e/package.json', base))).status).toBe(404)
    expect((await fetch(base, { method: 'POST' })).status).toBe(405)

    const page = await context.newPage()
    await page.goto(link)
    await page.waitForSelector('#app[data-ready="true"]')
    expect(await page.getByTestId('share-url').inputValue()).toBe(ownHub.shareUrl)
    await page.close()

    const exited = new Promise((resolve) => child?.once('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    child = undefined
  }, 60_000)
})
