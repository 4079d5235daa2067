/** The host's typed events (`host.addEventListener('request:end', …)`). */

import type { ConnectionKind } from '../codec/connection-kind.ts'
import type { P2PLLMError } from '../codec/errors.ts'

export interface PeerConnectEvent {
  peerId: string
  remoteAddr: string
  kind: ConnectionKind
}

export interface PeerDisconnectEvent {
  peerId: string
}

/** A peer the host turned away: over `maxConnections`, blocked, or not on the allow-list. */
export interface PeerRejectEvent {
  peerId: string
  remoteAddr: string
  reason: 'over-limit' | 'blocked' | 'not-allowed'
}

export interface RequestStartEvent {
  /** Sequence number of the request on this host. */
  id: number
  peerId: string
  kind: 'completion' | 'chat' | 'info'
  stream: boolean
  /** The prompt or last chat message, only when the host's `logPrompts` option is on. */
  prompt?: string
}

export interface RequestEndEvent extends RequestStartEvent {
  /** Pieces with text the backend produced. */
  chunks: number
  /** Tokens generated, where the backend reports them. */
  tokens?: number
  /** Milliseconds spent waiting in the queue for the backend. */
  queueTime: number
  /** Milliseconds from the request's arrival to its first piece of text. */
  timeToFirstToken?: number
  /** Milliseconds from the request's arrival to its last frame. */
  duration: number
}

export interface RequestErrorEvent extends Partial<RequestStartEvent> {
  peerId: string
  error: P2PLLMError
  /** Milliseconds from the request's arrival to the failure. */
  duration: number
}

export interface ModelHostEvents {
  'peer:connect': CustomEvent<PeerConnectEvent>
  'peer:disconnect': CustomEvent<PeerDisconnectEvent>
  'peer:reject': CustomEvent<PeerRejectEvent>
  'request:start': CustomEvent<RequestStartEvent>
  'request:end': CustomEvent<RequestEndEvent>
  'request:error': CustomEvent<RequestErrorEvent>
}
