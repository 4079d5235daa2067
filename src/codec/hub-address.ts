/**
 * Signalling hub addresses as users write them — `host:port`, `ws://host:port`,
 * `wss://host:port` or a multiaddr — turned into the hub's WebSocket multiaddr.
 */
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InvalidShareUrlError, webSocketMultiaddr } from './share-url.ts'

export interface HubAddress {
  host: string
  port: number
  secure: boolean
  /** The hub's WebSocket multiaddr (with `/p2p/<id>` if the input had one). */
  multiaddr: Multiaddr
}

export function parseHubAddress(input: string): HubAddress {
  const text = input.trim()
  if (text.startsWith('/')) {
    let ma: Multiaddr
    try {
      ma = multiaddr(text)
    } catch (err) {
      throw new InvalidShareUrlError(`Not a multiaddr: ${JSON.stringify(input)}`, { cause: err })
    }
    const parts = ma.getComponents()
    const names = parts.map((part) => part.name)
    const [host, tcp] = parts
    if (host == null || tcp?.name !== 'tcp' || !(names.includes('ws') || names.includes('wss'))) {
      throw new InvalidShareUrlError(
        `A signalling hub multiaddr must be WebSockets over TCP: ${text}`,
      )
    }
    return {
      host: host.value ?? '',
      port: Number(tcp.value),
      secure: names.includes('wss') || names.includes('tls'),
      multiaddr: ma,
    }
  }
  const match = /^(?:(wss?):\/\/)?(\[[^\]]+\]|[^:/[\]]+):(\d{1,5})\/?$/.exec(text)
  const port = Number(match?.[3])
  if (match == null || port < 1 || port > 65535) {
    throw new InvalidShareUrlError(
      `Not a signalling hub address: ${JSON.stringify(input)} (expected host:port)`,
    )
  }
  const host = (match[2] as string).replace(/^\[(.*)\]$/, '$1')
  const secure = match[1] === 'wss'
  return { host, port, secure, multiaddr: webSocketMultiaddr(host, port, secure) }
}
