/**
 * Preload script of the Electron sample (docs/electron.md): exposes a small, typed bridge to the
 * host in the main process — and nothing else. The page never gets `ipcRenderer` itself, so a
 * compromised page can only call these few functions.
 */
import { contextBridge, type IpcRendererEvent, ipcRenderer } from 'electron'
import { Channel, type HostBridge, type HostBridgeEvent } from './electron-ipc.ts'

const bridge: HostBridge = {
  start: (options) => ipcRenderer.invoke(Channel.start, options),
  stop: () => ipcRenderer.invoke(Channel.stop),
  snapshot: () => ipcRenderer.invoke(Channel.snapshot),
  disconnect: (peerId) => ipcRenderer.invoke(Channel.disconnect, peerId),
  block: (peerId) => ipcRenderer.invoke(Channel.block, peerId),
  onEvent: (listener) => {
    const forward = (_event: IpcRendererEvent, detail: HostBridgeEvent): void => listener(detail)
    ipcRenderer.on(Channel.event, forward)
    return () => {
      ipcRenderer.removeListener(Channel.event, forward)
    }
  },
}

contextBridge.exposeInMainWorld('hostBridge', bridge)
