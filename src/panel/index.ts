/**
 * @packageDocumentation
 *
 * The control panel: the original app's sharing window as a local web page. Settings
 * (signalling hub, backend, API key, max connections), Start / Stop P2P Sharing, the share URL
 * with a QR code, backend health, connected peers with Disconnect and Block, a live request log.
 * It listens on loopback only, behind a random token, and runs the host through the public SDK.
 *
 * @example
 * ```ts
 * import { createControlPanel } from 'p2p-llm'
 *
 * const panel = await createControlPanel({ port: 7070 })
 * console.log(`Open ${panel.url}`) // http://127.0.0.1:7070/?token=…
 * // …
 * await panel.close()
 * ```
 */
export {
  type ControlPanel,
  type ControlPanelInit,
  createControlPanel,
  type PanelSnapshot,
} from './control-panel.ts'
export type { PanelBackendType, PanelSettings, PanelSettingsUpdate } from './settings.ts'
export type {
  PanelBackendHealth,
  PanelHostOptions,
  PanelLogEntry,
  PanelSharingState,
  PanelSharingStatus,
} from './sharing.ts'
