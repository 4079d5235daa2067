import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { type GuestPlatform, rtcConfiguration } from './platform.ts'

/** Node guests: TCP, WebSockets, WebRTC, and the circuit relay to reach hosts through hubs. */
export const nodePlatform: GuestPlatform = {
  transports: (init) => [
    tcp(),
    webSockets(),
    webRTC(rtcConfiguration(init)),
    circuitRelayTransport(),
  ],
  nodeOptions: () => ({}),
}
