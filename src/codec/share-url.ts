/**
 * The share URL guests hold: `p2p://<peerId>@<host>:<port>[?secure=1]`.
 *
 * `<host>:<port>` is the signalling hub, a circuit-relay-v2 node reachable over WebSockets
 * (`secure=1`: over TLS, `wss`). Where the host is its own hub, it is the host's own
 * WebSocket address. Guests also accept a plain multiaddr ending in `/p2p/<peerId>`.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InvalidRequestError } from './errors.ts'

export const SHARE_URL_SCHEME = 'p2p:'

export interface ShareUrl {
  /** The host's peer id. */
  peerId: string
  /** The hub's host name or IP address (IPv6 without brackets). */
  hubHost: string
  hubPort: number
  /** The hub speaks secure WebSockets (`wss`). */
  secure: boolean
}

/** Thrown when a share URL or multiaddr cannot be parsed. */
export class InvalidShareUrlError extends InvalidRequestError {
  static override name = 'InvalidShareUrlError'
  override name = 'InvalidShareUrlError'
}

/** Formats a share URL. */
export function formatShareUrl(url: ShareUrl): string {
  const host = url.hubHost.includes(':') ? `[${url.hubHost}]` : url.hubHost
  return `p2p://${url.peerId}@${host}:${url.hubPort}${url.secure ? '?secure=1' : ''}`
}

/** Parses a share URL, throwing {@link InvalidShareUrlError} with the reason when it is malformed. */
export function parseShareUrl(input: string): ShareUrl {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw new InvalidShareUrlError(
      `Not a share URL: ${JSON.stringify(input)} (expected p2p://<peerId>@<host>:<port>)`,
    )
  }
  if (url.protocol !== SHARE_URL_SCHEME) {
    throw new InvalidShareUrlError(`Share URL must start with p2p:// (got ${url.protocol}//)`)
  }
  const peerId = decodeURIComponent(url.username)
  if (peerId === '')
    throw new InvalidShareUrlError('Share URL has no peer id (p2p://<peerId>@<host>:<port>)')
  if (url.password !== '') throw new InvalidShareUrlError('Share URL must not contain a password')
  assertPeerId(peerId)
  if (url.hostname === '') throw new InvalidShareUrlError('Share URL has no hub host')
  if (url.port === '') throw new InvalidShareUrlError('Share URL has no hub port')
  if (url.pathname !== '' && url.pathname !== '/') {
    throw new InvalidShareUrlError(`Share URL must not have a path (got ${url.pathname})`)
  }
  const secure = url.searchParams.get('secure')
  if (secure != null && secure !== '0' && secure !== '1') {
    throw new InvalidShareUrlError('Share URL parameter secure must be 0 or 1')
  }
  return {
    peerId,
    hubHost: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    hubPort: Number(url.port),
    secure: secure === '1',
  }
}

/** The WebSocket multiaddr of a hub at `host:port` (an IP address or a DNS name). */
export function webSocketMultiaddr(host: string, port: number, secure: boolean): Multiaddr {
  const proto = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? 'ip4' : host.includes(':') ? 'ip6' : 'dns'
  return multiaddr(`/${proto}/${host}/tcp/${port}/${secure ? 'tls/ws' : 'ws'}`)
}

/** The WebSocket multiaddr of the hub a share URL names (without a peer id). */
export function hubMultiaddr(url: ShareUrl): Multiaddr {
  return webSocketMultiaddr(url.hubHost, url.hubPort, url.secure)
}

/** Where to dial for `address`: a share URL or a multiaddr ending in `/p2p/<peerId>`. */
export interface ModelAddress {
  /** The host's peer id. */
  peerId: string
  /** The parsed share URL, when `address` was one. */
  shareUrl?: ShareUrl
  /** Multiaddrs to dial the host at, best first. */
  multiaddrs: Multiaddr[]
}

/** Resolves a share URL or multiaddr string into the host's peer id and dialable multiaddrs. */
export function parseModelAddress(address: string | Multiaddr): ModelAddress {
  if (typeof address === 'string' && address.trim().toLowerCase().startsWith(SHARE_URL_SCHEME)) {
    const shareUrl = parseShareUrl(address.trim())
    return {
      peerId: shareUrl.peerId,
      shareUrl,
      multiaddrs: [hubMultiaddr(shareUrl).encapsulate(`/p2p/${shareUrl.peerId}`)],
    }
  }
  let ma: Multiaddr
  try {
    ma = typeof address === 'string' ? multiaddr(address.trim()) : address
  } catch (err) {
    throw new InvalidShareUrlError(
      `Not a share URL or multiaddr: ${JSON.stringify(address)} (expected p2p://<peerId>@<host>:<port> or /…/p2p/<peerId>)`,
      { cause: err },
    )
  }
  const components = ma.getComponents()
  const last = components.at(-1)
  if (last?.name !== 'p2p' || last.value == null) {
    throw new InvalidShareUrlError(`Multiaddr must end in /p2p/<peerId>: ${ma.toString()}`)
  }
  assertPeerId(last.value)
  return { peerId: last.value, multiaddrs: [ma] }
}

function assertPeerId(peerId: string): void {
  try {
    peerIdFromString(peerId)
  } catch (err) {
    throw new InvalidShareUrlError(`Invalid peer id: ${JSON.stringify(peerId)}`, { cause: err })
  }
}
