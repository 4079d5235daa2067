/**
 * What the panel does with its settings: starts and stops one host, built only with the public
 * SDK (`createModelHost`, the backend factories, the host's events, `connections()`, `stats()`,
 * `disconnect()`, `block()`), and keeps what the page shows: status, peers, a request log.
 */
import { logger } from '@libp2p/logger'
import QRCode from 'qrcode'
import { llamaCpp, type ModelBackend, type ModelInfo, openAICompatible } from '../backends/index.ts'
import {
  createModelHost,
  type GuestConnection,
  type HostStats,
  type ModelHost,
  type ModelHostInit,
} from '../host/index.ts'
import { HEALTH_INTERVAL, HEALTH_TIMEOUT, REQUEST_LOG_SIZE } from './constants.ts'
import type { PanelSettings } from './settings.ts'

const log = logger('p2p-llm:panel')

export type PanelSharingStatus = 'stopped' | 'starting' | 'sharing' | 'stopping'

/** One line of the request log. Prompts only appear when "show prompts" is on. */
export interface PanelLogEntry {
  /** The host's request number; absent for failures before a request was read. */
  id?: number
  /** When the request arrived (ms since the epoch). */
  time: number
  peerId: string
  kind?: 'completion' | 'chat' | 'info'
  stream?: boolean
  status: 'running' | 'ok' | 'error'
  tokens?: number
  /** Milliseconds from arrival to the last frame (or the failure). */
  duration?: number
  timeToFirstToken?: number
  error?: { code: string; message: string }
  prompt?: string
}

export interface PanelBackendHealth {
  /** `true`: ready; `false`: not answering; `undefined`: not checked yet. */
  ok?: boolean
  message: string
  checkedAt?: number
  /** From the backend's `info()`, once it answered. */
  model?: string
}

/** Everything the page shows, pushed on every change. */
export interface PanelSharingState {
  status: PanelSharingStatus
  /** Why the last start failed, or what went wrong while sharing. */
  error?: string
  /** While starting: what is happening (loading a GGUF file: percent). */
  progress?: string
  /** What is shared, for people: `llama.cpp at http://…`. */
  backendLabel?: string
  peerId?: string
  shareUrl?: string
  /** The share URL as an SVG QR code (a `data:` URL). */
  qrCode?: string
  multiaddrs: string[]
  /** The settings the running host was started with differ from the saved ones. */
  restartNeeded: boolean
  /** The `maxConnections` the running host enforces. */
  maxConnections?: number
  health: PanelBackendHealth
  peers: GuestConnection[]
  stats?: HostStats
  blockedPeers: string[]
  log: PanelLogEntry[]
}

export interface SharingInit {
  /** libp2p listen addresses; default from the settings' hub port, on every interface. */
  listen?: (settings: PanelSettings) => string[]
  iceServers?: RTCIceServer[]
  /** Private-key file keeping the peer id (and share URL) across restarts. */
  identity?: string
  /** Further `createModelHost()` options; the settings win for the fields they decide. */
  hostOptions?: PanelHostOptions
  /** Called after every change of the state. */
  onChange: () => void
  /** Saves a settings change made here (Block adds to `blockedPeers`). */
  saveSettings: (update: Partial<PanelSettings>) => Promise<PanelSettings>
  /** The saved settings now. */
  settings: () => PanelSettings
}

/** `createModelHost()` options a panel may add (limits, `announce`, `webrtcDirect`, …). */
export type PanelHostOptions = Omit<
  Partial<ModelHostInit>,
  'backend' | 'listen' | 'iceServers' | 'identity' | 'privateKey'
>

interface Running {
  host: ModelHost
  backend: ModelBackend
  /** The settings it started with, to tell when a restart would change something. */
  settings: PanelSettings
  healthTimer: ReturnType<typeof setInterval>
}

/** The options of `createModelHost()` the settings decide. */
function hostOptions(settings: PanelSettings): Partial<ModelHostInit> {
  return {
    signalling: settings.signalling === '' ? undefined : settings.signalling,
    apiKey: settings.apiKey === '' ? undefined : settings.apiKey,
    maxConnections: settings.maxConnections,
    logPrompts: settings.logPrompts,
    blockPeers: settings.blockedPeers,
  }
}

/** Settings that only take effect when sharing restarts. */
const restartFields: Array<keyof PanelSettings> = [
  'signalling',
  'hubPort',
  'backend',
  'llamaEndpoint',
  'openaiBaseURL',
  'openaiModel',
  'openaiKey',
  'modelPath',
  'apiKey',
  'maxConnections',
  'logPrompts',
]

/** `http://host:port`, `unix:/path`, `/path/to.sock` or a bare `host:port`. */
export function llamaTarget(endpoint: string): { url?: string; socketPath?: string } {
  const value = endpoint.trim()
  if (value.startsWith('unix:')) return { socketPath: value.slice('unix:'.length) }
  if (value.startsWith('/')) return { socketPath: value }
  if (/^https?:\/\//i.test(value)) return { url: value }
  return { url: `http://${value}` }
}

export class SharingController {
  private readonly init: SharingInit
  private status: PanelSharingStatus = 'stopped'
  private error?: string
  private progress?: string
  private running?: Running
  private backendLabel?: string
  private qrCode?: string
  private health: PanelBackendHealth = { message: 'Not checked yet' }
  private readonly requestLog: PanelLogEntry[] = []
  /** Start and stop run one at a time. */
  private queue: Promise<unknown> = Promise.resolve()

  constructor(init: SharingInit) {
    this.init = init
  }

  state(): PanelSharingState {
    const running = this.running
    const settings = this.init.settings()
    let shareUrl: string | undefined
    try {
      shareUrl = running?.host.shareUrl
    } catch (err) {
      this.error ??= (err as Error).message
    }
    return {
      status: this.status,
      error: this.error,
      progress: this.progress,
      backendLabel: this.backendLabel,
      peerId: running?.host.peerId,
      shareUrl,
      qrCode: running != null ? this.qrCode : undefined,
      multiaddrs: running?.host.multiaddrs ?? [],
      restartNeeded:
        running != null &&
        restartFields.some((field) => running.settings[field] !== settings[field]),
      maxConnections: running?.settings.maxConnections,
      health: this.health,
      peers: running?.host.connections() ?? [],
      stats: running?.host.stats(),
      blockedPeers: settings.blockedPeers,
      log: [...this.requestLog],
    }
  }

  /** Starts sharing with the saved settings (no-op while sharing). */
  start(): Promise<void> {
    return this.serially(async () => {
      if (this.running != null) return
      const settings = this.init.settings()
      this.setStatus('starting')
      this.error = undefined
      let backend: ModelBackend | undefined
      try {
        const chosen = await this.createBackend(settings)
        backend = chosen.backend
        this.backendLabel = chosen.label
        this.progress = 'Starting the host…'
        this.changed()
        const host = await createModelHost({
          ...this.init.hostOptions,
          backend,
          listen: this.init.listen?.(settings) ?? [
            '/ip4/0.0.0.0/tcp/0',
            `/ip4/0.0.0.0/tcp/${settings.hubPort}/ws`,
          ],
          iceServers: this.init.iceServers,
          identity: this.init.identity,
          ...hostOptions(settings),
        })
        this.watch(host)
        const running: Running = {
          host,
          backend,
          settings,
          healthTimer: setInterval(() => void this.checkHealth(), HEALTH_INTERVAL),
        }
        running.healthTimer.unref?.()
        this.running = running
        this.qrCode = await qrCode(host.shareUrl).catch(() => undefined)
        this.progress = undefined
        this.setStatus('sharing')
        void this.checkHealth()
      } catch (err) {
        log.error('could not start sharing: %e', err)
        await backend?.close?.().catch(() => {})
        this.error = (err as Error).message
        this.progress = undefined
        this.setStatus('stopped')
      }
    })
  }

  /** Stops sharing: requests in flight are aborted, every guest disconnected. */
  stop(): Promise<void> {
    return this.serially(async () => {
      const running = this.running
      if (running == null) return
      this.setStatus('stopping')
      clearInterval(running.healthTimer)
      try {
        await running.host.stop()
      } finally {
        await running.backend.close?.().catch(() => {})
        this.running = undefined
        for (const entry of this.requestLog) {
          if (entry.status === 'running') entry.status = 'error'
        }
        this.setStatus('stopped')
      }
    })
  }

  async disconnect(peerId: string): Promise<void> {
    await this.running?.host.disconnect(peerId)
    this.changed()
  }

  /** Refuses a peer now and on every later start (it is saved in `blockedPeers`). */
  async block(peerId: string): Promise<void> {
    const settings = this.init.settings()
    if (!settings.blockedPeers.includes(peerId)) {
      await this.init.saveSettings({ blockedPeers: [...settings.blockedPeers, peerId] })
    }
    await this.running?.host.block(peerId)
    this.changed()
  }

  async unblock(peerId: string): Promise<void> {
    const settings = this.init.settings()
    await this.init.saveSettings({
      blockedPeers: settings.blockedPeers.filter((peer) => peer !== peerId),
    })
    this.running?.host.unblock(peerId)
    this.changed()
  }

  /**
   * Asks the backend whether it can serve: the running one, or (when stopped) one made from the
   * saved settings — a GGUF file is only checked to exist, not loaded.
   */
  async checkHealth(): Promise<PanelBackendHealth> {
    const running = this.running
    const settings = this.init.settings()
    let backend = running?.backend
    let temporary = false
    if (backend == null) {
      if (settings.backend === 'gguf') {
        this.health = await ggufHealth(settings.modelPath)
        this.changed()
        return this.health
      }
      backend = (await this.createBackend(settings, false)).backend
      temporary = true
    }
    const signal = AbortSignal.timeout(HEALTH_TIMEOUT)
    let health: PanelBackendHealth
    try {
      await backend.health?.({ signal })
      let info: ModelInfo | undefined
      try {
        info = await backend.info?.({ signal })
      } catch {
        // health is what counts; info is a bonus
      }
      health = { ok: true, message: 'Ready', checkedAt: Date.now(), model: info?.model }
    } catch (err) {
      health = { ok: false, message: (err as Error).message, checkedAt: Date.now() }
    } finally {
      if (temporary) await backend.close?.().catch(() => {})
    }
    this.health = health
    this.changed()
    return health
  }

  async close(): Promise<void> {
    await this.stop()
  }

  private async createBackend(
    settings: PanelSettings,
    load = true,
  ): Promise<{ backend: ModelBackend; label: string }> {
    switch (settings.backend) {
      case 'gguf': {
        if (settings.modelPath === '') throw new Error('Choose a GGUF file to share')
        // Loaded on demand: node-llama-cpp is an optional dependency.
        const { nodeLlamaCpp } = await import('../backends/node-llama-cpp.ts')
        const backend = nodeLlamaCpp({
          modelPath: settings.modelPath,
          onLoadProgress: (progress) => {
            this.progress = `Loading the model: ${Math.floor(progress * 100)} %`
            this.changed()
          },
        })
        if (load) {
          this.progress = 'Loading the model…'
          this.changed()
          await backend.load()
        }
        return { backend, label: `${settings.modelPath} (in-process)` }
      }
      case 'openai': {
        if (settings.openaiBaseURL === '') throw new Error('Enter the server’s base URL')
        return {
          backend: openAICompatible({
            baseURL: settings.openaiBaseURL,
            apiKey: settings.openaiKey === '' ? undefined : settings.openaiKey,
            model: settings.openaiModel === '' ? undefined : settings.openaiModel,
          }),
          label: `OpenAI-compatible server at ${settings.openaiBaseURL}`,
        }
      }
      default: {
        if (settings.llamaEndpoint === '') throw new Error('Enter the llama.cpp server’s URL')
        const target = llamaTarget(settings.llamaEndpoint)
        return {
          backend: llamaCpp(target),
          label: `llama.cpp at ${target.url ?? `unix:${target.socketPath}`}`,
        }
      }
    }
  }

  private watch(host: ModelHost): void {
    const entries = new Map<number, PanelLogEntry>()
    const add = (entry: PanelLogEntry): void => {
      this.requestLog.push(entry)
      if (this.requestLog.length > REQUEST_LOG_SIZE) {
        const dropped = this.requestLog.shift()
        if (dropped?.id != null) entries.delete(dropped.id)
      }
    }
    host.addEventListener('peer:connect', () => this.changed())
    host.addEventListener('peer:disconnect', () => this.changed())
    host.addEventListener('peer:reject', ({ detail }) => {
      add({
        time: Date.now(),
        peerId: detail.peerId,
        status: 'error',
        error: { code: 'REFUSED', message: `Connection refused (${detail.reason})` },
      })
      this.changed()
    })
    host.addEventListener('request:start', ({ detail }) => {
      const entry: PanelLogEntry = {
        id: detail.id,
        time: Date.now(),
        peerId: detail.peerId,
        kind: detail.kind,
        stream: detail.stream,
        status: 'running',
        // Only present when the host runs with logPrompts ("show prompts").
        prompt: detail.prompt,
      }
      entries.set(detail.id, entry)
      add(entry)
      this.changed()
    })
    host.addEventListener('request:end', ({ detail }) => {
      const entry = entries.get(detail.id)
      if (entry != null) {
        entry.status = 'ok'
        entry.tokens = detail.tokens
        entry.duration = detail.duration
        entry.timeToFirstToken = detail.timeToFirstToken
        entries.delete(detail.id)
      }
      this.changed()
    })
    host.addEventListener('request:error', ({ detail }) => {
      const entry = detail.id != null ? entries.get(detail.id) : undefined
      const error = { code: detail.error.code, message: detail.error.message }
      if (entry != null) {
        entry.status = 'error'
        entry.duration = detail.duration
        entry.error = error
        if (detail.id != null) entries.delete(detail.id)
      } else {
        add({
          id: detail.id,
          time: Date.now() - detail.duration,
          peerId: detail.peerId,
          kind: detail.kind,
          status: 'error',
          duration: detail.duration,
          error,
        })
      }
      this.changed()
    })
  }

  private setStatus(status: PanelSharingStatus): void {
    this.status = status
    this.changed()
  }

  private changed(): void {
    this.init.onChange()
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task, task)
    this.queue = result.catch(() => {})
    return result
  }
}

/** The share URL as an SVG QR code, as a `data:` URL for an `<img>`. */
async function qrCode(text: string): Promise<string> {
  const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 })
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`
}

async function ggufHealth(modelPath: string): Promise<PanelBackendHealth> {
  const { stat } = await import('node:fs/promises')
  if (modelPath === '') return { ok: false, message: 'No GGUF file chosen', checkedAt: Date.now() }
  try {
    const info = await stat(modelPath)
    if (!info.isFile()) throw new Error(`${modelPath} is not a file`)
    return {
      ok: true,
      message: `File found (${(info.size / 1024 / 1024).toFixed(1)} MB); loaded when sharing starts`,
      checkedAt: Date.now(),
    }
  } catch (err) {
    return { ok: false, message: (err as Error).message, checkedAt: Date.now() }
  }
}
