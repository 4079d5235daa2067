/**
 * What crosses IPC in the Electron sample (docs/electron.md): channel names and plain-data
 * types shared by the main process, the preload script and the renderer. No Electron import
 * here, so every side can load it.
 */

/** IPC channel names. */
export const Channel = {
  start: 'host:start',
  stop: 'host:stop',
  snapshot: 'host:snapshot',
  disconnect: 'host:disconnect',
  block: 'host:block',
  event: 'host:event',
} as const

/** What the renderer's form sends to start sharing. */
export interface StartOptions {
  /** llama-server's URL, e.g. `http://127.0.0.1:8080`. */
  llamaUrl: string
  /** Key guests must send; `''` for none. */
  apiKey: string
  /** Guests served at once, 1–10. */
  maxConnections: number
}

/** One connected guest, as `host.connections()` reports it. */
export interface PeerView {
  peerId: string
  remoteAddr: string
  kind: 'direct' | 'relayed' | 'webrtc'
  since: number
  activeRequests: number
  totalRequests: number
}

/** The host as the renderer sees it. */
export interface HostSnapshot {
  sharing: boolean
  shareUrl?: string
  peers: PeerView[]
  completedRequests: number
  tokensGenerated: number
  /** Why the last start failed. */
  error?: string
}

/** The host's events, reduced to plain data (no prompt text). */
export type HostBridgeEvent =
  | { type: 'peer:connect' | 'peer:disconnect'; peerId: string }
  | { type: 'request:end'; peerId: string; tokens?: number; duration: number }
  | { type: 'request:error'; peerId: string; code: string; message: string }

/** What the preload script exposes to the page as `window.hostBridge`. */
export interface HostBridge {
  start(options: StartOptions): Promise<HostSnapshot>
  stop(): Promise<HostSnapshot>
  snapshot(): Promise<HostSnapshot>
  disconnect(peerId: string): Promise<HostSnapshot>
  block(peerId: string): Promise<HostSnapshot>
  /** Calls `listener` for every host event; returns the function that unsubscribes. */
  onEvent(listener: (event: HostBridgeEvent) => void): () => void
}
