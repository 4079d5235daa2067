/**
 * The panel's settings: what the sharing window of the original app asked for, kept in a JSON
 * file (mode 0600: it holds the API key).
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import * as v from 'valibot'
import { EXTENDED_MAX_CONNECTIONS, STANDARD_MAX_CONNECTIONS } from './constants.ts'

/** What the panel shares. */
export type PanelBackendType = 'llama-cpp' | 'openai' | 'gguf'

export interface PanelSettings {
  /** Signalling hub (`host:port`, `wss://…`, a multiaddr); `''`: the host is its own hub. */
  signalling: string
  /** WebSocket port of the built-in hub (`0`: any free port). */
  hubPort: number
  backend: PanelBackendType
  /** llama-server: its URL (`http://127.0.0.1:8080`) or the path of its Unix socket. */
  llamaEndpoint: string
  /** OpenAI-compatible server: base URL with the version path (`http://127.0.0.1:11434/v1`). */
  openaiBaseURL: string
  /** That server's model name (Ollama, vLLM), `''` for its default. */
  openaiModel: string
  /** That server's own API key, `''` for none. */
  openaiKey: string
  /** A GGUF file, run in-process through node-llama-cpp. */
  modelPath: string
  /** Key guests must send; `''`: open to anyone with the share URL. */
  apiKey: string
  /** Guests served at once: 1–10, or more with `allowMoreConnections`. */
  maxConnections: number
  /** Lifts the 1–10 range of `maxConnections`. */
  allowMoreConnections: boolean
  /** Show prompts in the request log (`createModelHost`'s `logPrompts`). */
  logPrompts: boolean
  /** Peers refused whenever sharing starts (`blockPeers`), added by the Block button. */
  blockedPeers: string[]
}

export const DEFAULT_SETTINGS: PanelSettings = {
  signalling: '',
  hubPort: 0,
  backend: 'llama-cpp',
  llamaEndpoint: 'http://127.0.0.1:8080',
  openaiBaseURL: 'http://127.0.0.1:11434/v1',
  openaiModel: '',
  openaiKey: '',
  modelPath: '',
  apiKey: '',
  maxConnections: STANDARD_MAX_CONNECTIONS,
  allowMoreConnections: false,
  logPrompts: false,
  blockedPeers: [],
}

const text = (max = 4096) => v.pipe(v.string(), v.trim(), v.maxLength(max))

/** Every field optional: a partial update from the page, or an older file. */
export const PanelSettingsUpdateSchema = v.pipe(
  v.partial(
    v.object({
      signalling: text(),
      hubPort: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)),
      backend: v.picklist(['llama-cpp', 'openai', 'gguf']),
      llamaEndpoint: text(),
      openaiBaseURL: text(),
      openaiModel: text(),
      openaiKey: v.pipe(v.string(), v.maxLength(4096)),
      modelPath: text(),
      apiKey: v.pipe(v.string(), v.maxLength(4096)),
      maxConnections: v.pipe(
        v.number(),
        v.integer(),
        v.minValue(1),
        v.maxValue(EXTENDED_MAX_CONNECTIONS),
      ),
      allowMoreConnections: v.boolean(),
      logPrompts: v.boolean(),
      blockedPeers: v.pipe(v.array(text(200)), v.maxLength(10_000)),
    }),
  ),
)

export type PanelSettingsUpdate = v.InferOutput<typeof PanelSettingsUpdateSchema>

/** Thrown when settings from the page or the file do not pass validation. */
export class InvalidSettingsError extends Error {
  static override name = 'InvalidSettingsError'
  override name = 'InvalidSettingsError'
}

/**
 * Applies `update` to `current`, validating every field and the connection range (1–10
 * unless more are allowed).
 */
export function mergeSettings(current: PanelSettings, update: unknown): PanelSettings {
  const parsed = v.safeParse(PanelSettingsUpdateSchema, update)
  if (!parsed.success) {
    const issue = parsed.issues[0]
    const field = issue.path?.map((item) => String(item.key)).join('.') ?? 'settings'
    throw new InvalidSettingsError(`${field}: ${issue.message}`)
  }
  const next: PanelSettings = { ...current, ...parsed.output }
  if (!next.allowMoreConnections && next.maxConnections > STANDARD_MAX_CONNECTIONS) {
    throw new InvalidSettingsError(
      `maxConnections: at most ${STANDARD_MAX_CONNECTIONS} unless "allow more" is on`,
    )
  }
  next.blockedPeers = [...new Set(next.blockedPeers.filter((peer) => peer !== ''))]
  return next
}

/** Where the panel keeps its settings: `${XDG_CONFIG_HOME:-~/.config}/p2p-llm/panel.json`. */
export function defaultConfigPath(): string {
  return join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'p2p-llm', 'panel.json')
}

/** Reads the settings file; defaults when it does not exist yet. */
export async function loadSettings(path: string): Promise<PanelSettings> {
  let raw: string
  try {
    raw = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...DEFAULT_SETTINGS }
    throw err
  }
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch (err) {
    throw new InvalidSettingsError(`${path} is not JSON: ${(err as Error).message}`)
  }
  // Unknown fields (a newer version's) are dropped by the schema; missing ones get defaults.
  return mergeSettings(DEFAULT_SETTINGS, json)
}

/** Writes the settings file with mode 0600 (its directory 0700): it holds the API key. */
export async function saveSettings(path: string, settings: PanelSettings): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  // Write then rename, so a crash never leaves half a file behind.
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 })
  await chmod(tmp, 0o600)
  await rename(tmp, path)
}
