/**
 * Transports a Node guest dials with by default. Browsers get ./default-transports.browser.ts
 * instead (package.json `browser` field), so `node:net` never reaches a bundle.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import type { Libp2pOptions } from 'libp2p'

/** libp2p transport factories, as `createLibp2p({ transports })` takes them. */
export type TransportFactories = NonNullable<Libp2pOptions['transports']>

export interface DefaultTransportsInit {
  iceServers?: RTCIceServer[]
}

export function defaultTransports(init: DefaultTransportsInit = {}): TransportFactories {
  return [
    tcp(),
    webSockets(),
    webRTC(init.iceServers != null ? { rtcConfiguration: { iceServers: init.iceServers } } : {}),
    // Reaches hosts through their hub; a guest listens on nothing, so it reserves no slots.
    circuitRelayTransport(),
  ]
}

/** Node-specific libp2p options of a guest node (none: Node may dial any address). */
export function defaultGuestNodeOptions(): Partial<Libp2pOptions> {
  return {}
}
