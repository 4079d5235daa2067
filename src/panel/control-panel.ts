/**
 * `createControlPanel()`: the original app's sharing window as a local web page. A small HTTP
 * server on loopback serves one page and a JSON + server-sent-events API, every request guarded
 * by a random token; behind it a {@link SharingController} runs the host.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { logger } from '@libp2p/logger'
import {
  DEFAULT_PANEL_HOST,
  MAX_BODY_SIZE,
  PUSH_DELAY,
  SSE_KEEPALIVE,
  TOKEN_BYTES,
  TOKEN_COOKIE,
  TOKEN_HEADER,
} from './constants.ts'
import { renderPage } from './page.ts'
import {
  DEFAULT_SETTINGS,
  defaultConfigPath,
  InvalidSettingsError,
  loadSettings,
  mergeSettings,
  type PanelSettings,
  type PanelSettingsUpdate,
  saveSettings,
} from './settings.ts'
import { type PanelHostOptions, type PanelSharingState, SharingController } from './sharing.ts'

const log = logger('p2p-llm:panel')

export interface ControlPanelInit {
  /**
   * Port of the panel's web server (`0`: any free port).
   *
   * @default 0
   */
  port?: number
  /**
   * Interface the web server listens on. Loopback only by default: the panel controls the host
   * and shows its API key. Anything else makes it reachable from other machines (still behind
   * the token, but over plain HTTP).
   *
   * @default '127.0.0.1'
   */
  host?: string
  /**
   * The settings file (JSON, written with mode 0600).
   *
   * @default `${XDG_CONFIG_HOME:-~/.config}/p2p-llm/panel.json`
   */
  configPath?: string
  /**
   * The secret every request must carry: in the page URL's `token` query, then in the
   * `x-panel-token` header (or the cookie the page sets).
   *
   * @default 32 random bytes, base64url
   */
  token?: string
  /**
   * Multiaddrs the host listens on when sharing starts.
   *
   * @default every interface, like the CLI: `['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/<hub port>/ws']`
   */
  listen?: string[]
  /** STUN/TURN servers for the host's WebRTC (see `createModelHost`'s `iceServers`). */
  iceServers?: RTCIceServer[]
  /**
   * Private-key file of the host, so its peer id and share URL survive restarts; `false`: a new
   * identity each start.
   *
   * @default `host.key` next to the settings file
   */
  identity?: string | false
  /**
   * Further `createModelHost()` options for the host the panel starts (`maxRequestsPerPeer`,
   * `maxConcurrentRequests`, `allowPeers`, `announce`, `webrtcDirect`, …). The settings win for
   * the fields they decide (signalling, API key, max connections, prompts, blocked peers).
   */
  hostOptions?: PanelHostOptions
  /** Values applied over the saved settings when the panel opens (and saved), e.g. from CLI flags. */
  settings?: PanelSettingsUpdate
  /** Start sharing as soon as the panel is up. @default false */
  start?: boolean
}

export interface ControlPanel {
  /** The page's address, token included: `http://127.0.0.1:PORT/?token=…`. Keep it private. */
  readonly url: string
  /** The settings file in use. */
  readonly configPath: string
  /** Stops sharing (if on), ends every open page's event stream and closes the server. */
  close(): Promise<void>
}

interface Route {
  method: string
  pattern: RegExp
  handle: (match: RegExpMatchArray, req: IncomingMessage, res: ServerResponse) => Promise<void>
}

/**
 * Serves the control panel on `http://127.0.0.1:<port>/`.
 *
 * @example
 * ```ts
 * import { createControlPanel } from 'p2p-llm'
 *
 * const panel = await createControlPanel()
 * console.log(`Open ${panel.url}`)
 * // …
 * await panel.close()
 * ```
 */
export async function createControlPanel(init: ControlPanelInit = {}): Promise<ControlPanel> {
  const configPath = init.configPath ?? defaultConfigPath()
  const token = init.token ?? randomBytes(TOKEN_BYTES).toString('base64url')
  if (token.length < 16) throw new TypeError('createControlPanel(): the token is too short')
  const tokenDigest = digest(token)
  const bindHost = init.host ?? DEFAULT_PANEL_HOST

  /** Open event streams of pages. */
  const clients = new Set<ServerResponse>()
  let pushTimer: ReturnType<typeof setTimeout> | undefined
  let settings: PanelSettings
  let configWarning: string | undefined
  try {
    settings = await loadSettings(configPath)
  } catch (err) {
    // A damaged file must not lock the user out: start from defaults, say so, save over it.
    configWarning = `Could not read ${configPath} (${(err as Error).message}); using defaults`
    settings = { ...DEFAULT_SETTINGS }
  }
  let saving: Promise<unknown> = Promise.resolve()
  /** Validates and applies an update at once; writes go to the file one after another. */
  const updateSettings = (update: unknown): Promise<PanelSettings> => {
    const next = mergeSettings(settings, update)
    settings = next
    schedulePush()
    const write = saving.then(() => saveSettings(configPath, next))
    saving = write.catch(() => {})
    return write.then(() => {
      configWarning = undefined
      return next
    })
  }
  if (init.settings != null) await updateSettings(init.settings)

  const sharing = new SharingController({
    listen: init.listen != null ? () => init.listen ?? [] : undefined,
    iceServers: init.iceServers,
    hostOptions: init.hostOptions,
    identity:
      init.identity === false
        ? undefined
        : (init.identity ?? join(dirname(configPath), 'host.key')),
    onChange: () => schedulePush(),
    saveSettings: (update) => updateSettings(update),
    settings: () => settings,
  })

  const snapshot = (): PanelSnapshot => ({
    ...sharing.state(),
    configPath,
    configWarning,
  })

  function schedulePush(): void {
    if (pushTimer != null || clients.size === 0) return
    pushTimer = setTimeout(() => {
      pushTimer = undefined
      const message = `event: state\ndata: ${JSON.stringify(snapshot())}\n\n`
      for (const client of clients) client.write(message)
    }, PUSH_DELAY)
  }

  const routes: Route[] = [
    {
      method: 'GET',
      pattern: /^\/api\/state$/,
      handle: async (_match, _req, res) => json(res, 200, { state: snapshot(), settings }),
    },
    {
      method: 'GET',
      pattern: /^\/api\/settings$/,
      handle: async (_match, _req, res) => json(res, 200, settings),
    },
    {
      method: 'PUT',
      pattern: /^\/api\/settings$/,
      handle: async (_match, req, res) => json(res, 200, await updateSettings(await readJson(req))),
    },
    {
      method: 'POST',
      pattern: /^\/api\/sharing\/start$/,
      handle: async (_match, req, res) => {
        const body = await readJson(req)
        if (body != null) await updateSettings(body)
        await sharing.start()
        json(res, 200, snapshot())
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/sharing\/stop$/,
      handle: async (_match, _req, res) => {
        await sharing.stop()
        json(res, 200, snapshot())
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/health$/,
      handle: async (_match, _req, res) => json(res, 200, await sharing.checkHealth()),
    },
    {
      method: 'POST',
      pattern: /^\/api\/peers\/([1-9A-HJ-NP-Za-km-z]{20,100})\/(disconnect|block|unblock)$/,
      handle: async (match, _req, res) => {
        const [, peerId = '', action] = match
        if (action === 'disconnect') await sharing.disconnect(peerId)
        else if (action === 'block') await sharing.block(peerId)
        else await sharing.unblock(peerId)
        json(res, 200, snapshot())
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/events$/,
      handle: async (_match, req, res) => {
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': 'text/event-stream; charset=utf-8',
          connection: 'keep-alive',
        })
        res.write(`retry: 1000\nevent: state\ndata: ${JSON.stringify(snapshot())}\n\n`)
        clients.add(res)
        const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE)
        req.on('close', () => {
          clearInterval(keepalive)
          clients.delete(res)
        })
      },
    },
  ]

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      log.error('panel request failed: %e', err)
      if (!res.headersSent) {
        const status =
          err instanceof HttpError ? err.status : err instanceof InvalidSettingsError ? 400 : 500
        json(res, status, { error: (err as Error).message })
      } else res.end()
    })
  })

  let port = 0
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://panel')
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host header.
    if (!hostAllowed(req.headers.host, bindHost)) {
      text(res, 403, 'Forbidden: unexpected Host header')
      return
    }
    const cookieName = `${TOKEN_COOKIE}_${port}`
    if (url.pathname === '/' || url.pathname === '/index.html') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        text(res, 405, 'Method not allowed')
        return
      }
      const given = url.searchParams.get('token') ?? cookie(req, cookieName)
      if (given == null) {
        text(res, 401, 'This panel needs its token: open the URL `p2p-llm panel` printed.')
        return
      }
      if (!tokenMatches(given, tokenDigest)) {
        text(res, 403, 'Wrong token: open the URL `p2p-llm panel` printed.')
        return
      }
      const nonce = randomBytes(16).toString('base64')
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': [
          "default-src 'none'",
          `script-src 'nonce-${nonce}'`,
          `style-src 'nonce-${nonce}'`,
          "img-src 'self' data:",
          "connect-src 'self'",
          "base-uri 'none'",
          "form-action 'none'",
          "frame-ancestors 'none'",
        ].join('; '),
        // Later loads (and EventSource) need no token in the URL.
        'set-cookie': `${cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict`,
      })
      res.end(req.method === 'HEAD' ? undefined : renderPage({ nonce, token }))
      return
    }
    if (!url.pathname.startsWith('/api/')) {
      text(res, 404, 'Not found')
      return
    }
    // API calls: the header; reads (EventSource cannot send headers) may use the cookie. Changes
    // need the header, which no other site can make a browser send (no CSRF).
    const header = req.headers[TOKEN_HEADER] ?? bearer(req.headers.authorization)
    const given =
      typeof header === 'string'
        ? header
        : req.method === 'GET'
          ? cookie(req, cookieName)
          : undefined
    if (given == null) {
      json(res, 401, { error: `Missing token (send the ${TOKEN_HEADER} header)` })
      return
    }
    if (!tokenMatches(given, tokenDigest)) {
      json(res, 403, { error: 'Wrong token' })
      return
    }
    for (const route of routes) {
      const match = route.pattern.exec(url.pathname)
      if (match == null) continue
      if (req.method !== route.method) continue
      await route.handle(match, req, res)
      return
    }
    json(res, 404, { error: 'Not found' })
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port ?? 0, bindHost, () => {
      server.off('error', reject)
      resolve()
    })
  })
  port = (server.address() as AddressInfo).port
  const urlHost = bindHost.includes(':') ? `[${bindHost}]` : bindHost
  const url = `http://${urlHost === '0.0.0.0' ? '127.0.0.1' : urlHost}:${port}/?token=${encodeURIComponent(token)}`

  if (init.start === true) await sharing.start()

  let closing: Promise<void> | undefined
  return {
    url,
    configPath,
    close: () => {
      closing ??= (async () => {
        await sharing.close()
        clearTimeout(pushTimer)
        for (const client of clients) client.end()
        clients.clear()
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
        await saving
      })()
      return closing
    },
  }
}

/** What `/api/state` and every server-sent `state` event carry. */
export interface PanelSnapshot extends PanelSharingState {
  configPath: string
  /** The settings file could not be read; defaults are in use. */
  configWarning?: string
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

class HttpError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/** Constant time: equal-length SHA-256 digests compared with `timingSafeEqual`. */
function tokenMatches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected)
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '')
  return match?.[1]
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return value.join('=')
  }
  return undefined
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

/**
 * On loopback, only loopback names may appear in `Host` (any port: an SSH tunnel may map
 * another); bound elsewhere, any name (the token still guards every request).
 */
function hostAllowed(header: string | undefined, bindHost: string): boolean {
  if (!isLoopback(bindHost)) return true
  if (header == null) return false
  const match = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(header)
  return match != null && isLoopback((match[1] ?? '').toLowerCase())
}

function isLoopback(name: string): boolean {
  return LOOPBACK_NAMES.has(name) || /^127\.\d+\.\d+\.\d+$/.test(name)
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' })
    .end(JSON.stringify(body))
}

function text(res: ServerResponse, status: number, body: string): void {
  res
    .writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' })
    .end(`${body}\n`)
}

/** Reads a JSON body of at most {@link MAX_BODY_SIZE} bytes; `undefined` when there is none. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_SIZE) throw new HttpError(413, 'Request body too large')
    chunks.push(chunk)
  }
  if (size === 0) return undefined
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    throw new HttpError(415, 'Send JSON (content-type: application/json)')
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new HttpError(400, 'The body is not valid JSON')
  }
}
