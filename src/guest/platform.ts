/**
 * What differs between Node and browser guests: the transports they dial with and a few libp2p
 * options. ./platform-node.ts and ./platform-browser.ts provide them; each entry point
 * (./index.ts, ./browser.ts) wires one in, so a browser bundle never sees `node:net`.
 */
import type { Libp2pOptions } from 'libp2p'
import type { TransportFactories } from '../codec/transports.ts'

export interface PlatformTransportsInit {
  /** STUN/TURN servers for WebRTC; absent: libp2p's defaults. */
  iceServers?: RTCIceServer[]
}

export interface GuestPlatform {
  /** The transports a guest dials with unless told otherwise. */
  transports(init: PlatformTransportsInit): TransportFactories
  /** Other libp2p options of a guest node. */
  nodeOptions(): Partial<Libp2pOptions>
}

export function rtcConfiguration(init: PlatformTransportsInit): {
  rtcConfiguration?: RTCConfiguration
} {
  return init.iceServers != null ? { rtcConfiguration: { iceServers: init.iceServers } } : {}
}
