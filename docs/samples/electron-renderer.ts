/**
 * Renderer of the Electron sample's custom UI (docs/electron.md): a form, Start / Stop, the share
 * URL, the connected guests with Disconnect and Block, and a short log — all through the
 * `window.hostBridge` the preload script exposes. Texts from the host go in with `textContent`.
 */
import type { HostBridge, HostSnapshot } from './electron-ipc.ts'

declare global {
  interface Window {
    hostBridge: HostBridge
  }
}

const bridge = window.hostBridge
const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const form = byId<HTMLFormElement>('settings')
const toggle = byId<HTMLButtonElement>('toggle')
const shareUrl = byId<HTMLElement>('share-url')
const peers = byId<HTMLTableSectionElement>('peers')
const log = byId<HTMLOListElement>('log')
let sharing = false

function button(label: string, onClick: () => Promise<HostSnapshot>): HTMLButtonElement {
  const element = document.createElement('button')
  element.type = 'button'
  element.textContent = label
  element.addEventListener('click', () => void onClick().then(render))
  return element
}

function render(state: HostSnapshot): void {
  sharing = state.sharing
  toggle.textContent = sharing ? 'Stop P2P Sharing' : 'Start P2P Sharing'
  shareUrl.textContent = state.shareUrl ?? (state.error != null ? `Error: ${state.error}` : '—')
  peers.replaceChildren(
    ...state.peers.map((peer) => {
      const row = document.createElement('tr')
      for (const text of [peer.peerId.slice(-10), peer.kind, String(peer.totalRequests)]) {
        const cell = document.createElement('td')
        cell.textContent = text
        row.append(cell)
      }
      const actions = document.createElement('td')
      actions.append(
        button('Disconnect', () => bridge.disconnect(peer.peerId)),
        button('Block', () => bridge.block(peer.peerId)),
      )
      row.append(actions)
      return row
    }),
  )
}

function note(text: string): void {
  const item = document.createElement('li')
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`
  log.prepend(item)
  while (log.children.length > 50) log.lastElementChild?.remove()
}

toggle.addEventListener('click', async () => {
  toggle.disabled = true
  try {
    const data = new FormData(form)
    render(
      sharing
        ? await bridge.stop()
        : await bridge.start({
            llamaUrl: String(data.get('llamaUrl')),
            apiKey: String(data.get('apiKey')),
            maxConnections: Number(data.get('maxConnections')),
          }),
    )
  } finally {
    toggle.disabled = false
  }
})

bridge.onEvent((event) => {
  if (event.type === 'request:end')
    note(
      `${event.peerId.slice(-10)}: ${event.tokens ?? '?'} tokens in ${event.duration.toFixed(0)} ms`,
    )
  else if (event.type === 'request:error')
    note(`${event.peerId.slice(-10)}: ${event.code} ${event.message}`)
  else note(`${event.peerId.slice(-10)} ${event.type === 'peer:connect' ? 'joined' : 'left'}`)
  void bridge.snapshot().then(render)
})

void bridge.snapshot().then(render)
