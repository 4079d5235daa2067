/**
 * What `p2p-llm host` shows while it runs: on a terminal, a compact view redrawn in place (share
 * URL, figures, connected guests, the latest requests); otherwise one plain line per event, for
 * logs and pipes.
 */
import logUpdate from 'log-update'
import type { ModelHost } from '../host/index.ts'

export interface HostViewInit {
  host: ModelHost
  /** What is shared, e.g. `llama.cpp at http://127.0.0.1:8080`. */
  backendLabel: string
  /** Redraw in place (a TTY) or print lines. */
  interactive: boolean
  /** Where lines go. @default process.stdout */
  out?: NodeJS.WritableStream
  /** Requests kept in the on-screen log. @default 8 */
  logLines?: number
}

export interface HostView {
  stop(): void
}

const short = (peerId: string): string => `…${peerId.slice(-8)}`
const time = (): string => new Date().toISOString().slice(11, 19)

export function createHostView(init: HostViewInit): HostView {
  const { host, interactive } = init
  const out = init.out ?? process.stdout
  const recent: string[] = []
  const note = (line: string): void => {
    if (!interactive) {
      out.write(`${time()} ${line}\n`)
      return
    }
    recent.push(`${time()} ${line}`)
    if (recent.length > (init.logLines ?? 8)) recent.shift()
  }

  const listeners = {
    'peer:connect': ({
      detail,
    }: CustomEvent<{ peerId: string; kind: string; remoteAddr: string }>) =>
      note(`+ guest ${short(detail.peerId)} (${detail.kind}) from ${detail.remoteAddr}`),
    'peer:disconnect': ({ detail }: CustomEvent<{ peerId: string }>) =>
      note(`- guest ${short(detail.peerId)} left`),
    'peer:reject': ({ detail }: CustomEvent<{ peerId: string; reason: string }>) =>
      note(`! refused ${short(detail.peerId)}: ${detail.reason}`),
    'request:end': ({ detail }: CustomEvent<import('../host/index.ts').RequestEndEvent>) => {
      const ttft =
        detail.timeToFirstToken != null
          ? `, first token ${detail.timeToFirstToken.toFixed(0)} ms`
          : ''
      const tokens = detail.tokens != null ? `${detail.tokens} tokens, ` : ''
      note(
        `  #${detail.id} ${short(detail.peerId)} ${detail.kind} ok: ${tokens}${detail.duration.toFixed(0)} ms${ttft}`,
      )
    },
    'request:error': ({ detail }: CustomEvent<import('../host/index.ts').RequestErrorEvent>) =>
      note(
        `  #${detail.id ?? '-'} ${short(detail.peerId)} ${detail.error.code}: ${detail.error.message}`,
      ),
  }
  for (const [type, listener] of Object.entries(listeners)) {
    host.addEventListener(type as keyof typeof listeners, listener as EventListener)
  }

  const header = [
    `Sharing ${init.backendLabel}`,
    `Share URL: ${host.shareUrl}`,
    `Peer id:   ${host.peerId}`,
    'Addresses:',
    ...host.multiaddrs.map((address) => `  ${address}`),
  ]

  if (!interactive) {
    out.write(`${header.join('\n')}\n`)
    return {
      stop: () => {
        for (const [type, listener] of Object.entries(listeners)) {
          host.removeEventListener(type as keyof typeof listeners, listener as EventListener)
        }
      },
    }
  }

  const render = (): void => {
    const stats = host.stats()
    const guests = host.connections()
    const lines = [
      ...header,
      '',
      `Guests ${stats.guests} · requests ${stats.activeRequests} running, ${stats.queuedRequests} queued, ` +
        `${stats.completedRequests} done, ${stats.failedRequests} failed · ${stats.tokensGenerated} tokens`,
      '',
      guests.length === 0
        ? 'No guests connected.'
        : 'Peer        Kind     Since     Active  Total  Address',
      ...guests.map(
        (guest) =>
          `${short(guest.peerId).padEnd(11)} ${guest.kind.padEnd(8)} ${new Date(guest.since).toISOString().slice(11, 19)}  ` +
          `${String(guest.activeRequests).padStart(6)}  ${String(guest.totalRequests).padStart(5)}  ${guest.remoteAddr}`,
      ),
      '',
      ...recent,
      '',
      'Ctrl-C stops sharing.',
    ]
    logUpdate(lines.join('\n'))
  }
  render()
  const timer = setInterval(render, 500)
  return {
    stop: () => {
      clearInterval(timer)
      render()
      logUpdate.done()
      for (const [type, listener] of Object.entries(listeners)) {
        host.removeEventListener(type as keyof typeof listeners, listener as EventListener)
      }
    },
  }
}
