/**
 * `connectToModel()`: reach a host by share URL or multiaddr and return a {@link RemoteModel}.
 */
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { ConnectionError, TimeoutError } from '../codec/errors.ts'
import { parseModelAddress } from '../codec/share-url.ts'
import { DEFAULT_CONNECT_TIMEOUT } from './constants.ts'
import { defaultTransports } from './default-transports.ts'
import { DefaultRemoteModel, type RemoteModel } from './remote-model.ts'

export interface ConnectOptions {
  /** Sent with every request when the host requires a key. */
  apiKey?: string
  /** Cancels connecting. */
  signal?: AbortSignal
  /**
   * How long to try reaching the host, in ms (then `TimeoutError`, code `TIMEOUT`).
   *
   * @default 30_000
   */
  connectTimeout?: number
  /**
   * Largest frame accepted from the host, in bytes.
   *
   * @default 1_048_576
   */
  maxFrameSize?: number
  /**
   * The guest's identity, so its peer id stays the same across runs (hosts may allow-list it).
   * A new one each time when absent. Ignored with `libp2p`.
   */
  privateKey?: PrivateKey
  /**
   * Dial from this libp2p node instead of creating one. It must share a transport, encrypter
   * and muxer with the host; `close()` then leaves it running.
   */
  libp2p?: Libp2p
}

/**
 * Connects to a shared model.
 *
 * @param address - A share URL (`p2p://<peerId>@<host>:<port>`) or a multiaddr ending in `/p2p/<peerId>`.
 *
 * @example
 * ```ts
 * import { connectToModel } from 'p2p-llm'
 *
 * const model = await connectToModel('p2p://12D3Koo…@127.0.0.1:40123')
 * const { content } = await model.complete({ prompt: 'Hi', max_tokens: 16 })
 * await model.close()
 * ```
 */
export async function connectToModel(
  address: string | Multiaddr,
  options: ConnectOptions = {},
): Promise<RemoteModel> {
  const target = parseModelAddress(address)
  const libp2p = options.libp2p ?? (await createGuestNode(options.privateKey))
  const timeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT
  const signal = AbortSignal.any([
    AbortSignal.timeout(timeout),
    ...(options.signal != null ? [options.signal] : []),
  ])
  try {
    const connection = await libp2p.dial(target.multiaddrs, { signal })
    if (connection.remotePeer.toString() !== target.peerId) {
      throw new ConnectionError(`Reached ${connection.remotePeer} instead of ${target.peerId}`)
    }
    return new DefaultRemoteModel({
      libp2p,
      ownsNode: options.libp2p == null,
      peerId: target.peerId,
      multiaddrs: target.multiaddrs,
      connection,
      apiKey: options.apiKey,
      maxFrameSize: options.maxFrameSize,
    })
  } catch (err) {
    if (options.libp2p == null) await Promise.resolve(libp2p.stop()).catch(() => {})
    options.signal?.throwIfAborted()
    if (signal.aborted)
      throw new TimeoutError(`Could not reach ${target.peerId} within ${timeout} ms`, {
        cause: err,
      })
    if (err instanceof ConnectionError) throw err
    throw new ConnectionError(`Could not reach ${target.peerId}: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

async function createGuestNode(privateKey?: PrivateKey): Promise<Libp2p> {
  return createLibp2p({
    privateKey,
    transports: defaultTransports(),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })
}
