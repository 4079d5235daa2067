/**
 * The control panel in real Chromium: settings typed into the page share a real llama-server,
 * a real guest connects with the share URL and key and shows up in the peers table and the
 * request log (no prompt text), Disconnect, Block and Unblock act on it, "show prompts" maps to
 * logPrompts, Stop ends sharing; the token guards page and API, the server is loopback-only,
 * settings survive a restart (file mode 0600).
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LlamaServer } from '../../scripts/run-llama-server.ts'
import {
  type ControlPanel,
  connectToModel,
  createControlPanel,
  type RemoteModel,
} from '../../src/index.ts'
import { launchChromium, type TestBrowser } from '../fixtures/browser.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from '../fixtures/host.ts'

const SCREENSHOTS = join(import.meta.dirname, '../../docs/screenshots')

/** Screenshots for docs/: written when missing or with UPDATE_SCREENSHOTS=1, so runs leave the tree clean. */
async function keepScreenshot(page: Page, name: string): Promise<void> {
  const path = join(SCREENSHOTS, name)
  const shot = await page.screenshot()
  if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(path)) await writeFile(path, shot)
}
const PROMPT = 'Tell me something'
const API_KEY = 'open sesame'
const LOOPBACK_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']

let llama: LlamaServer
let chromium: TestBrowser
let dir: string
let configPath: string
let panel: ControlPanel | undefined
let page: Page
let guestKey: PrivateKey
let guestId: string
const guests: RemoteModel[] = []

function openPanel(): Promise<ControlPanel> {
  return createControlPanel({ configPath, listen: LOOPBACK_LISTEN, iceServers: [] })
}

async function openPage(url: string): Promise<Page> {
  const tab = await chromium.browser.newPage({ viewport: { width: 1200, height: 800 } })
  tab.on('pageerror', (err) => console.error('page error:', err))
  await tab.goto(url)
  await tab.waitForFunction(() => document.body.dataset.ready === 'true')
  return tab
}

async function guest(shareUrl: string): Promise<RemoteModel> {
  const model = await connectToModel(shareUrl, { apiKey: API_KEY, privateKey: guestKey })
  guests.push(model)
  return model
}

const shareUrl = async (): Promise<string> =>
  (await page.locator('#share-url').getAttribute('data-url')) ?? ''
const peerRow = (peerId: string) => page.locator(`#peers-body tr[data-peer="${peerId}"]`)

beforeAll(async () => {
  llama = await startScriptedLlamaServer()
  dir = await mkdtemp(join(tmpdir(), 'p2p-llm-panel-'))
  configPath = join(dir, 'config', 'panel.json')
  guestKey = await generateKeyPair('Ed25519')
  guestId = peerIdFromPrivateKey(guestKey).toString()
  chromium = await launchChromium()
  panel = await openPanel()
  page = await openPage(panel.url)
}, 120_000)

afterAll(async () => {
  await Promise.all(guests.map((model) => model.close().catch(() => {})))
  await chromium?.close()
  await panel?.close()
  await llama?.stop()
  if (dir != null) await rm(dir, { recursive: true, force: true })
})

/** A raw HTTP request, so the Host header can be anything (fetch does not allow setting it). */
function rawGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

function refusesConnection(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })
}

describe('control panel', () => {
  it('refuses page and API requests without the token or with a wrong one; listens on 127.0.0.1 only', async () => {
    if (panel == null) throw new Error('no panel')
    const url = new URL(panel.url)
    const token = url.searchParams.get('token') ?? ''
    expect(url.hostname).toBe('127.0.0.1')
    expect(Buffer.from(token, 'base64url').length).toBe(32)
    const origin = url.origin

    // The page.
    expect((await fetch(`${origin}/`)).status).toBe(401)
    expect((await fetch(`${origin}/?token=wrong`)).status).toBe(403)
    expect((await fetch(`${origin}/?token=${token.slice(0, -1)}`)).status).toBe(403)
    const ok = await fetch(panel.url)
    expect(ok.status).toBe(200)
    expect(ok.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(ok.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/)

    // The API: reads and changes, with no token, a wrong header, a wrong cookie.
    for (const [method, path] of [
      ['GET', '/api/state'],
      ['GET', '/api/events'],
      ['PUT', '/api/settings'],
      ['POST', '/api/sharing/start'],
      ['POST', '/api/sharing/stop'],
      ['POST', `/api/peers/${guestId}/block`],
    ] as const) {
      expect((await fetch(`${origin}${path}`, { method })).status, `${method} ${path}`).toBe(401)
      const wrong = await fetch(`${origin}${path}`, { method, headers: { 'x-panel-token': 'x' } })
      expect(wrong.status, `${method} ${path}`).toBe(403)
      const wrongBearer = await fetch(`${origin}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}x` },
      })
      expect(wrongBearer.status, `${method} ${path}`).toBe(403)
    }
    const cookieName = `p2p_llm_panel_${url.port}`
    const wrongCookie = await fetch(`${origin}/api/state`, {
      headers: { cookie: `${cookieName}=nope` },
    })
    expect(wrongCookie.status).toBe(403)
    // The cookie is good for reads, but changes need the header (no cross-site requests).
    const cookieRead = await fetch(`${origin}/api/state`, {
      headers: { cookie: `${cookieName}=${token}` },
    })
    expect(cookieRead.status).toBe(200)
    const cookieWrite = await fetch(`${origin}/api/sharing/stop`, {
      method: 'POST',
      headers: { cookie: `${cookieName}=${token}` },
    })
    expect(cookieWrite.status).toBe(401)
    const good = await fetch(`${origin}/api/state`, { headers: { 'x-panel-token': token } })
    expect(good.status).toBe(200)

    // A page on another name resolving to 127.0.0.1 (DNS rebinding) is turned away.
    const rebound = await rawGet(panel.url, { host: `evil.example:${url.port}` })
    expect(rebound.status).toBe(403)

    // Loopback only: not on another loopback address, not on any other interface.
    expect(await refusesConnection('127.0.0.2', Number(url.port))).toBe(true)
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((address) => address != null && !address.internal)
      .map((address) => address?.address ?? '')
    for (const address of others) {
      expect(await refusesConnection(address, Number(url.port)), address).toBe(true)
    }
  })

  it('shares the llama-server typed into the page; a guest shows up within a second and its request is logged without the prompt', async () => {
    await page.locator('input[name=backend][value=llama-cpp]').check({ force: true })
    await page.locator('#llamaEndpoint').fill(llama.url)
    await page.locator('#apiKey').fill(API_KEY)
    await page.locator('#maxConnections').fill('3')
    await page.locator('#health-check').click()
    await expect.poll(() => page.locator('#health').getAttribute('data-ok')).toBe('true')
    await page.locator('#toggle').click()
    await expect.poll(() => page.locator('#status').getAttribute('data-status')).toBe('sharing')
    const url = await shareUrl()
    expect(url).toMatch(/^p2p:\/\/12D3KooW\w+@127\.0\.0\.1:\d+$/)
    expect(await page.locator('#toggle').textContent()).toBe('Stop P2P Sharing')
    expect(await page.locator('#qr').getAttribute('src')).toMatch(/^data:image\/svg\+xml;base64,/)
    expect(await page.locator('#qr').isVisible()).toBe(true)
    expect(await page.locator('#stat-guests').textContent()).toBe('0 / 3')

    // A real guest, with the URL and key from the page. The page notes when its row appears
    // (so the check does not count playwright's polling on a busy machine).
    await page.evaluate(() => {
      const seen: Record<string, number> = {}
      Object.assign(window, { peerSeen: seen })
      new MutationObserver(() => {
        for (const row of document.querySelectorAll<HTMLElement>('#peers-body tr[data-peer]')) {
          seen[row.dataset.peer ?? ''] ??= Date.now()
        }
      }).observe(document.getElementById('peers-body') as HTMLElement, { childList: true })
    })
    const model = await guest(url)
    const connected = Date.now()
    await peerRow(guestId).waitFor({ timeout: 5000 })
    const appeared = await page.evaluate(
      (peerId) => (window as unknown as { peerSeen: Record<string, number> }).peerSeen[peerId],
      guestId,
    )
    expect((appeared ?? Number.POSITIVE_INFINITY) - connected).toBeLessThan(1000)
    expect(await peerRow(guestId).locator('.badge').textContent()).toBe('direct')

    expect((await model.complete({ prompt: PROMPT, max_tokens: 32 })).content).toBe(
      SCRIPTED_COMPLETION,
    )
    const pieces: string[] = []
    for await (const chunk of model.chatStream({
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: 32,
    })) {
      pieces.push(chunk.content)
    }
    const logged = page.locator(`#log-body tr[data-peer="${guestId}"][data-status=ok]`)
    await expect.poll(() => logged.count(), { timeout: 2000 }).toBe(2)
    const cells = await logged.last().locator('td').allTextContents()
    expect(cells[2]).toBe('completion')
    expect(Number(cells[3])).toBeGreaterThan(0) // tokens
    expect(cells[4]).toMatch(/\d+ ms|s$/) // duration
    expect(await page.locator('#log-body').textContent()).not.toContain(PROMPT)
    expect(await page.content()).not.toContain(PROMPT)
    await expect.poll(() => page.locator('#stat-done').textContent()).toBe('2')
    expect(await peerRow(guestId).locator('td.num').textContent()).toBe('2')

    await mkdir(SCREENSHOTS, { recursive: true })
    await page.waitForTimeout(1300) // let the new row's highlight fade
    await keepScreenshot(page, 'panel-sharing.png')
  })

  it('Disconnect drops the guest (it may come back); Block keeps it out; Unblock lets it in', async () => {
    const model = guests[0]
    if (model == null) throw new Error('no guest')
    await peerRow(guestId).locator('button[data-action=disconnect]').click()
    await peerRow(guestId).waitFor({ state: 'detached', timeout: 2000 })
    expect(await page.locator('#peers-empty').isVisible()).toBe(true)

    // The SDK redials on the next call.
    expect((await model.complete({ prompt: PROMPT, max_tokens: 8 })).content).toBeTypeOf('string')
    await peerRow(guestId).waitFor({ timeout: 1000 })

    await peerRow(guestId).locator('button[data-action=block]').click()
    await peerRow(guestId).waitFor({ state: 'detached', timeout: 2000 })
    await page.locator(`#blocked-list [data-blocked="${guestId}"]`).waitFor({ timeout: 1000 })
    await expect(model.complete({ prompt: PROMPT, max_tokens: 8 })).rejects.toMatchObject({
      code: 'CONNECTION_FAILED',
    })
    // A fresh connection with the same identity is refused too.
    const again = await connectToModel(await shareUrl(), {
      apiKey: API_KEY,
      privateKey: guestKey,
      connectTimeout: 3000,
    })
      .then(async (fresh) => {
        guests.push(fresh)
        await fresh.complete({ prompt: PROMPT, max_tokens: 8 })
        return 'served'
      })
      .catch((err: { code?: string }) => err.code)
    expect(again).toBe('CONNECTION_FAILED')
    expect(await peerRow(guestId).count()).toBe(0)

    await page.locator(`#blocked-list [data-blocked="${guestId}"] button`).click()
    await page.locator(`#blocked-list [data-blocked="${guestId}"]`).waitFor({ state: 'detached' })
    expect((await model.complete({ prompt: PROMPT, max_tokens: 8 })).content).toBeTypeOf('string')
    await peerRow(guestId).waitFor({ timeout: 1000 })
  })

  it('"Show prompts" maps to logPrompts once sharing restarts; Stop ends sharing', async () => {
    await page.locator('#logPrompts').check()
    await page.locator('#save').click()
    await page.locator('#restart-hint').waitFor({ state: 'visible', timeout: 1000 })

    await page.locator('#toggle').click()
    await expect.poll(() => page.locator('#status').getAttribute('data-status')).toBe('stopped')
    expect(await shareUrl()).toBe('')
    expect(await page.locator('#toggle').textContent()).toBe('Start P2P Sharing')
    expect(await page.locator('#peers-body tr').count()).toBe(0)

    await page.locator('#toggle').click()
    await expect.poll(() => page.locator('#status').getAttribute('data-status')).toBe('sharing')
    expect(await page.locator('#restart-hint').isVisible()).toBe(false)
    const model = await guest(await shareUrl())
    await model.complete({ prompt: 'What is a peer', max_tokens: 8 })
    await page.locator('#log-body .prompt-row', { hasText: 'What is a peer' }).waitFor({
      timeout: 2000,
    })

    await page.locator('#toggle').click()
    await expect.poll(() => page.locator('#status').getAttribute('data-status')).toBe('stopped')
    expect(await shareUrl()).toBe('')
    expect(await page.locator('#qr').isVisible()).toBe(false)
    await expect(model.complete({ prompt: PROMPT, max_tokens: 8 })).rejects.toMatchObject({
      code: 'CONNECTION_FAILED',
    })
  })

  it('shows why sharing could not start (an unreachable signalling server)', async () => {
    await page.locator('#signalling').fill('127.0.0.1:1')
    await page.locator('#toggle').click()
    await page.locator('#banner').waitFor({ state: 'visible', timeout: 5000 })
    expect(await page.locator('#banner-text').textContent()).toMatch(
      /Could not reach the signalling hub 127\.0\.0\.1:1/,
    )
    expect(await page.locator('#status').getAttribute('data-status')).toBe('stopped')
    expect(await shareUrl()).toBe('')
    await page.locator('#banner-close').click()
    await page.locator('#signalling').fill('')
    await page.locator('#save').click()
    await expect.poll(() => page.locator('#save-status').textContent()).toBe('Saved')
  })

  it('keeps the settings in a 0600 file: a restarted panel shows them again', async () => {
    await page.close()
    await panel?.close()
    panel = undefined
    expect((await stat(configPath)).mode & 0o777).toBe(0o600)

    panel = await openPanel()
    page = await openPage(panel.url)
    expect(await page.locator('#llamaEndpoint').inputValue()).toBe(llama.url)
    expect(await page.locator('#apiKey').inputValue()).toBe(API_KEY)
    expect(await page.locator('#maxConnections').inputValue()).toBe('3')
    expect(await page.locator('#maxConnectionsRange').inputValue()).toBe('3')
    expect(await page.locator('#logPrompts').isChecked()).toBe(true)
    expect(await page.locator('#status').getAttribute('data-status')).toBe('stopped')
    // The token left the address bar; the page keeps working on its cookie and meta tag.
    expect(new URL(page.url()).search).toBe('')
    expect(await page.locator('#signalling').inputValue()).toBe('')
    await keepScreenshot(page, 'panel-stopped.png')
    await page.reload()
    await page.waitForFunction(() => document.body.dataset.ready === 'true')
    expect(await page.locator('#apiKey').inputValue()).toBe(API_KEY)
  })
})
