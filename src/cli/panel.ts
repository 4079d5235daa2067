/** `p2p-llm panel`: the control panel, a local web page to share a model from. */
import type { Command } from 'commander'
import {
  type ControlPanelInit,
  createControlPanel,
  type PanelSettingsUpdate,
} from '../panel/index.ts'
import { port } from './options.ts'

interface PanelOptions {
  port: number
  config?: string
  open: boolean
}

export function registerPanel(program: Command): void {
  program
    .command('panel')
    .description('open the control panel: a local web page to share a model from')
    .option('--port <port>', 'port of the panel on 127.0.0.1 (0: any free port)', port, 0)
    .option('--config <file>', 'settings file (default ~/.config/p2p-llm/panel.json)')
    .option('--no-open', 'only print the URL, do not open a browser')
    .action(async (options: PanelOptions) => {
      await runPanel({ port: options.port, configPath: options.config, open: options.open })
    })
}

export interface RunPanelOptions extends ControlPanelInit {
  /** Try to open the page in a browser. @default true */
  open?: boolean
}

/**
 * Serves the panel until SIGINT/SIGTERM, printing its URL. Also what `p2p-llm host --ui` runs,
 * with the host's flags as `settings` and `start: true`.
 */
export async function runPanel(options: RunPanelOptions): Promise<void> {
  const { open = true, ...init } = options
  const panel = await createControlPanel(init)
  console.log(`Control panel: ${panel.url}`)
  console.log('(the link carries a secret token: do not share it)')
  if (open && (await openInBrowser(panel.url))) console.log('(opened in your browser)')
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  console.error('Stopping…')
  await panel.close()
}

/** The flags of `p2p-llm host` that map onto panel settings (for `host --ui`). */
export interface HostFlagsForPanel {
  llama: string
  llamaSocket?: string
  openai?: string
  openaiKey?: string
  openaiModel?: string
  model?: string
  signalling?: string
  port: number
  apiKey?: string
  maxConnections: number
  logPrompts?: boolean
  blockPeer?: string[]
}

/**
 * Panel settings from `p2p-llm host` flags: `--model` wins over `--openai`, which wins over
 * `--llama`/`--llama-socket`, as on the command line.
 */
export function panelSettingsFromHostFlags(flags: HostFlagsForPanel): PanelSettingsUpdate {
  const backend =
    flags.model != null
      ? { backend: 'gguf' as const, modelPath: flags.model }
      : flags.openai != null
        ? {
            backend: 'openai' as const,
            openaiBaseURL: flags.openai,
            openaiKey: flags.openaiKey ?? '',
            openaiModel: flags.openaiModel ?? '',
          }
        : { backend: 'llama-cpp' as const, llamaEndpoint: flags.llamaSocket ?? flags.llama }
  return {
    ...backend,
    signalling: flags.signalling ?? '',
    hubPort: flags.port,
    apiKey: flags.apiKey ?? '',
    maxConnections: flags.maxConnections,
    allowMoreConnections: flags.maxConnections > 10,
    logPrompts: flags.logPrompts === true,
    ...(flags.blockPeer != null ? { blockedPeers: flags.blockPeer } : {}),
  }
}

/**
 * Opens `url` with the `open` package when it happens to be installed (it is not a dependency
 * of p2p-llm); false otherwise or when there is no browser to open (a server, SSH).
 */
async function openInBrowser(url: string): Promise<boolean> {
  if (process.env.SSH_CONNECTION != null) return false
  if (
    process.platform === 'linux' &&
    process.env.DISPLAY == null &&
    process.env.WAYLAND_DISPLAY == null
  )
    return false
  try {
    // A variable specifier: resolved at run time, never bundled, absent without harm.
    const name = 'open'
    const { default: open } = (await import(name)) as {
      default: (
        target: string,
        options?: { wait?: boolean },
      ) => Promise<{ unref?: () => void; on?: (event: 'error', listener: () => void) => void }>
    }
    const child = await open(url, { wait: false })
    child.on?.('error', () => {}) // no opener on this machine: the printed URL is enough
    child.unref?.()
    return true
  } catch {
    return false
  }
}
