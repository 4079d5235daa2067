import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { type GuestPlatform, rtcConfiguration } from './platform.ts'

/** Browser guests: WebSockets, WebRTC, and the circuit relay to reach hosts through hubs. */
export const browserPlatform: GuestPlatform = {
  transports: (init) => [webSockets(), webRTC(rtcConfiguration(init)), circuitRelayTransport()],
  nodeOptions: () => ({
    // libp2p's browser default refuses private addresses and plain `ws`. A guest only ever
    // dials the address its user gave it (a share URL on a LAN is private and often `ws`),
    // so it allows what it was told to dial.
    connectionGater: { denyDialMultiaddr: () => false },
  }),
}
