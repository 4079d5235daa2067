/**
 * Electron sample: share a local model from a desktop app (see docs/electron.md).
 *
 * Two ways, picked with `P2P_LLM_UI`:
 * - `panel` (default): the host's control panel (`createControlPanel`) runs in this main
 *   process on 127.0.0.1 behind its token, and a BrowserWindow shows it as it is.
 * - `custom`: the host (`createModelHost`) runs in this main process and your own renderer
 *   (electron-renderer.html + .ts) drives it over IPC, through the bridge the preload script
 *   (electron-preload.ts) exposes.
 *
 * In your own app import from 'p2p-llm'. This file imports the source tree instead, so it
 * type-checks in this repository without `npm run build`.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { app, BrowserWindow, type IpcMainInvokeEvent, ipcMain, shell } from 'electron'
import {
  type ControlPanel,
  createControlPanel,
  createModelHost,
  llamaCpp,
  type ModelBackend,
  type ModelHost,
} from '../../src/index.ts'
import {
  Channel,
  type HostBridgeEvent,
  type HostSnapshot,
  type StartOptions,
} from './electron-ipc.ts'

const here = import.meta.dirname

/** Nothing from a page reaches Node: isolated, sandboxed, no Node integration. */
const webPreferences = {
  contextIsolation: true,
  sandbox: true,
  nodeIntegration: false,
} as const

/** Keeps a window on its own origin: other links open in the user's browser. */
function stayOnOrigin(window: BrowserWindow, origin: string): void {
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url)
    return { action: 'deny' }
  })
  window.webContents.on('will-navigate', (event, url) => {
    if (new URL(url).origin !== origin) event.preventDefault()
  })
}

// ---- 1. The control panel as it is ----

async function openControlPanel(): Promise<() => Promise<void>> {
  // Settings in the app's own folder instead of ~/.config/p2p-llm.
  const panel: ControlPanel = await createControlPanel({
    configPath: join(app.getPath('userData'), 'panel.json'),
  })
  const window = new BrowserWindow({
    width: 1200,
    height: 800,
    title: 'p2p-llm',
    webPreferences,
  })
  stayOnOrigin(window, new URL(panel.url).origin)
  await window.loadURL(panel.url)
  return () => panel.close()
}

// ---- 2. A host in this process, a custom renderer over IPC ----

let host: ModelHost | undefined
let backend: ModelBackend | undefined
let lastError: string | undefined

function snapshot(): HostSnapshot {
  const stats = host?.stats()
  return {
    sharing: host != null,
    shareUrl: host?.shareUrl,
    peers: host?.connections() ?? [],
    completedRequests: stats?.completedRequests ?? 0,
    tokensGenerated: stats?.tokensGenerated ?? 0,
    error: lastError,
  }
}

/** The renderer is less trusted than this process: check what it sends. */
function parseStartOptions(value: unknown): StartOptions {
  const { llamaUrl, apiKey, maxConnections } = (value ?? {}) as Record<string, unknown>
  if (typeof llamaUrl !== 'string' || !/^https?:\/\//.test(llamaUrl))
    throw new TypeError('llamaUrl must be an http(s) URL')
  if (typeof apiKey !== 'string') throw new TypeError('apiKey must be a string')
  if (typeof maxConnections !== 'number' || !Number.isInteger(maxConnections))
    throw new TypeError('maxConnections must be an integer')
  return { llamaUrl, apiKey, maxConnections: Math.min(10, Math.max(1, maxConnections)) }
}

async function startSharing(options: StartOptions, send: (event: HostBridgeEvent) => void) {
  if (host != null) return
  lastError = undefined
  backend = llamaCpp({ url: options.llamaUrl })
  try {
    host = await createModelHost({
      backend,
      apiKey: options.apiKey === '' ? undefined : options.apiKey,
      maxConnections: options.maxConnections,
      // Reachable on the LAN, like `p2p-llm host`; the share URL names the LAN address.
      listen: ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws'],
      identity: join(app.getPath('userData'), 'host.key'),
    })
  } catch (err) {
    lastError = (err as Error).message
    backend = undefined
    return
  }
  // Forward the host's events as plain data (an Error or a CustomEvent does not cross IPC).
  host.addEventListener('peer:connect', ({ detail }) =>
    send({ type: 'peer:connect', peerId: detail.peerId }),
  )
  host.addEventListener('peer:disconnect', ({ detail }) =>
    send({ type: 'peer:disconnect', peerId: detail.peerId }),
  )
  host.addEventListener('request:end', ({ detail }) =>
    send({
      type: 'request:end',
      peerId: detail.peerId,
      tokens: detail.tokens,
      duration: detail.duration,
    }),
  )
  host.addEventListener('request:error', ({ detail }) =>
    send({
      type: 'request:error',
      peerId: detail.peerId,
      code: detail.error.code,
      message: detail.error.message,
    }),
  )
}

async function stopSharing(): Promise<void> {
  const stopping = host
  host = undefined
  await stopping?.stop()
  await backend?.close?.()
  backend = undefined
}

async function openCustomWindow(): Promise<() => Promise<void>> {
  const page = pathToFileURL(join(here, 'electron-renderer.html')).href
  const window = new BrowserWindow({
    width: 900,
    height: 640,
    title: 'p2p-llm',
    webPreferences: { ...webPreferences, preload: join(here, 'preload.cjs') },
  })
  stayOnOrigin(window, 'file://')
  const send = (event: HostBridgeEvent): void => {
    if (!window.isDestroyed()) window.webContents.send(Channel.event, event)
  }
  /** Answers only our own page, never a frame that navigated elsewhere. */
  const handle = (
    channel: string,
    run: (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<void>,
  ): void => {
    ipcMain.handle(channel, async (event, ...args) => {
      if (event.senderFrame?.url !== page) throw new Error('Not allowed')
      await run(event, ...args)
      return snapshot()
    })
  }
  handle(Channel.start, (_event, options) => startSharing(parseStartOptions(options), send))
  handle(Channel.stop, () => stopSharing())
  handle(Channel.snapshot, async () => {})
  handle(Channel.disconnect, async (_event, peerId) => {
    if (typeof peerId === 'string') await host?.disconnect(peerId)
  })
  handle(Channel.block, async (_event, peerId) => {
    if (typeof peerId === 'string') await host?.block(peerId)
  })
  await window.loadURL(page)
  return stopSharing
}

// ---- App lifecycle ----

let cleanUp: (() => Promise<void>) | undefined

app.on('window-all-closed', () => app.quit())
app.on('will-quit', (event) => {
  if (cleanUp == null) return
  // Stop sharing (guests see the host leave cleanly), then quit for real.
  event.preventDefault()
  const done = cleanUp
  cleanUp = undefined
  void done().finally(() => app.quit())
})

await app.whenReady()
cleanUp = process.env.P2P_LLM_UI === 'custom' ? await openCustomWindow() : await openControlPanel()
