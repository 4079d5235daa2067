import type { Connection } from '@libp2p/interface'

/** How two peers are connected: directly (TCP, WebSockets), via WebRTC, or through a relay. */
export type ConnectionKind = 'direct' | 'relayed' | 'webrtc'

export function connectionKind(
  connection: Pick<Connection, 'remoteAddr' | 'limits'>,
): ConnectionKind {
  const address = connection.remoteAddr.toString()
  if (address.includes('/webrtc')) return 'webrtc'
  if (connection.limits != null || address.includes('/p2p-circuit')) return 'relayed'
  return 'direct'
}
