/**
 * `p2p-llm web`: serve the web chat page (the static build in dist/web) on this machine, so a
 * browser can chat with a shared model. `serveWebPage()` is the server itself.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, extname, join, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Command } from 'commander'
import { port } from './options.ts'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
}

/**
 * The page may run only its own script and style, and open connections anywhere: a guest dials
 * hubs and hosts over `ws`/`wss` (WebRTC is not subject to `connect-src`).
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self' ws: wss: http: https:; img-src 'self' data:; " +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
}

export interface ServeWebPageOptions {
  /** The built page: a directory holding index.html and app.js. */
  dir: string
  /** @default 0 (a free port) */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
}

export interface WebPageServer {
  /** `http://<host>:<port>/` */
  url: string
  port: number
  close(): Promise<void>
}

/** Serves a built web page (read-only, GET and HEAD) over HTTP. */
export async function serveWebPage(options: ServeWebPageOptions): Promise<WebPageServer> {
  const dir = resolve(options.dir)
  const host = options.host ?? '127.0.0.1'
  const server = createServer((req, res) => {
    void serveFile(dir, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500)
      res.end()
    })
  })
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolveListen()
    })
  })
  const address = server.address()
  if (address == null || typeof address === 'string')
    throw new Error('The web server has no address')
  // An unspecified address listens everywhere; this machine reaches it on loopback.
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  const urlHost = shown.includes(':') ? `[${shown}]` : shown
  return {
    url: `http://${urlHost}:${address.port}/`,
    port: address.port,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose())
        server.closeAllConnections()
      }),
  }
}

async function serveFile(dir: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end()
    return
  }
  let path: string
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)
  } catch {
    res.writeHead(400).end()
    return
  }
  if (path.endsWith('/')) path += 'index.html'
  const file = resolve(dir, `.${path}`)
  if (!file.startsWith(dir + sep)) {
    res.writeHead(404).end('not found')
    return
  }
  const body = await readFile(file).catch(() => undefined)
  if (body == null) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found')
    return
  }
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.byteLength,
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}

/** The package's root: the nearest directory above this module holding package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('p2p-llm: cannot find the package root')
    dir = parent
  }
  return dir
}

interface BuildScript {
  buildWebPage(options: { outDir: string }): Promise<{ outDir: string }>
}

/**
 * The built page. From the built CLI: dist/web. From the sources (`npm run cli -- web`), or
 * when dist/web is missing in a checkout with esbuild installed: a fresh build of src/web in a
 * temporary directory (removed by `cleanup`), so the page always matches the code that runs.
 */
export async function locateWebPage(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const root = packageRoot()
  const dist = join(root, 'dist/web')
  const fromSources = import.meta.url.endsWith('.ts')
  const built = existsSync(join(dist, 'index.html')) && existsSync(join(dist, 'app.js'))
  if (built && !fromSources) return { dir: dist, cleanup: async () => {} }
  const script = join(root, 'scripts/build-web.ts')
  if (existsSync(script) && existsSync(join(root, 'src/web/app.ts'))) {
    // A computed specifier, so bundlers leave this development-only import alone.
    const loaded = (await import(pathToFileURL(script).href).catch(() => undefined)) as
      | BuildScript
      | undefined
    if (loaded != null) {
      const outDir = await mkdtemp(join(tmpdir(), 'p2p-llm-web-'))
      try {
        await loaded.buildWebPage({ outDir })
      } catch (err) {
        await rm(outDir, { recursive: true, force: true })
        throw err
      }
      return { dir: outDir, cleanup: () => rm(outDir, { recursive: true, force: true }) }
    }
  }
  if (built) return { dir: dist, cleanup: async () => {} }
  throw new Error(`The web page is not built (${dist} is missing): run npm run build first`)
}

interface WebOptions {
  port: number
  host: string
}

export function registerWeb(program: Command): void {
  program
    .command('web')
    .description('serve the web chat page: chat with a shared model from a browser')
    .argument('[address]', 'share URL to prefill in the page')
    .option('--port <port>', 'HTTP port (0: any free one)', port, 0)
    .option('--host <ip>', 'IP address to listen on', '127.0.0.1')
    .action(async (address: string | undefined, options: WebOptions) => {
      const page = await locateWebPage()
      let server: WebPageServer
      try {
        server = await serveWebPage({ dir: page.dir, port: options.port, host: options.host })
      } catch (err) {
        await page.cleanup()
        throw err
      }
      const link = address != null ? `${server.url}#${encodeURI(address)}` : server.url
      console.log(`Web chat: ${link}`)
      console.log('Open it in a browser; Ctrl-C stops the server.')
      await new Promise<void>((resolveStop) => {
        process.once('SIGINT', () => resolveStop())
        process.once('SIGTERM', () => resolveStop())
      })
      await server.close()
      await page.cleanup()
    })
}
