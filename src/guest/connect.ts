/**
 * `connectToModel()`: reach a host by share URL or multiaddr and return a {@link RemoteModel}.
 *
 * With a share URL the guest dials the signalling hub it names. If the hub is the host itself,
 * that connection is the one to use (direct). Otherwise the guest asks the hub to put it
 * through to the host, sets up WebRTC over that relayed connection and talks to the host
 * directly; when WebRTC cannot get through it keeps the relayed connection.
 */
import { identify } from '@libp2p/identify'
import type { Connection, Libp2p, PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import { ConnectionError, TimeoutError } from '../codec/errors.ts'
import { hubMultiaddr, type ModelAddress, parseModelAddress } from '../codec/share-url.ts'
import type { TransportFactories } from '../codec/transports.ts'
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_WEBRTC_TIMEOUT,
  WEBRTC_ATTEMPTS,
  WEBRTC_RETRY_AFTER,
} from './constants.ts'
import type { GuestPlatform } from './platform.ts'
import { DefaultRemoteModel, type RemoteModel } from './remote-model.ts'

const log = logger('p2p-llm:guest')

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
   * After each request, open the next request's stream ahead of time (kept ready for 2 s), so
   * requests that follow each other skip the stream set-up.
   *
   * @default true
   */
  preopenStreams?: boolean
  /**
   * Upgrade a connection through a hub to WebRTC. `false` keeps the relayed connection (within
   * the hub's limits).
   *
   * @default true
   */
  webrtc?: boolean
  /**
   * How long to try WebRTC before falling back to the relayed connection, in ms. An attempt
   * still pending after 2 s is given up and retried, up to three attempts; the last one gets
   * what is left of this time (raise it for slow links).
   *
   * @default 6_000
   */
  webrtcTimeout?: number
  /**
   * STUN/TURN servers for WebRTC. Absent: libp2p's defaults (public STUN servers). `[]` for
   * LANs, tests and offline machines.
   */
  iceServers?: RTCIceServer[]
  /**
   * Transports replacing the defaults (Node: TCP, WebSockets, WebRTC, circuit relay; browsers:
   * WebSockets, WebRTC, circuit relay), or a function that receives the defaults and returns
   * the set to use. Ignored with `libp2p`.
   */
  transports?: TransportFactories | ((defaults: TransportFactories) => TransportFactories)
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
 * Connects to a shared model with the given platform's defaults (see ./index.ts and
 * ./browser.ts for the public `connectToModel`).
 */
export async function connectToModelOn(
  platform: GuestPlatform,

  address: string | Multiaddr,
  options: ConnectOptions = {},
): Promise<RemoteModel> {
  const target = parseModelAddress(address)
  const libp2p = options.libp2p ?? (await createGuestNode(platform, options))
  const timeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT
  const signal = AbortSignal.any([
    AbortSignal.timeout(timeout),
    ...(options.signal != null ? [options.signal] : []),
  ])
  const connect = (signal: AbortSignal, fresh = false): Promise<Connection> =>
    reachHost(libp2p, target, options, signal, fresh)
  try {
    const connection = await connect(signal)
    return new DefaultRemoteModel({
      libp2p,
      ownsNode: options.libp2p == null,
      peerId: target.peerId,
      connection,
      reconnect: (signal) => connect(signal ?? AbortSignal.timeout(timeout), true),
      apiKey: options.apiKey,
      maxFrameSize: options.maxFrameSize,
      preopenStreams: options.preopenStreams,
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

/** Dials the host: directly, or through the share URL's hub (WebRTC, else relayed). */
async function reachHost(
  libp2p: Libp2p,
  target: ModelAddress,
  options: ConnectOptions,
  signal: AbortSignal,
  fresh: boolean,
): Promise<Connection> {
  if (target.shareUrl == null) {
    return checkPeer(await libp2p.dial(target.multiaddrs, { signal, force: fresh }), target.peerId)
  }
  const hubConnection = await libp2p.dial(hubMultiaddr(target.shareUrl), { signal })
  const hubId = hubConnection.remotePeer.toString()
  // The host is its own hub: the hub connection is a direct one to the host.
  if (hubId === target.peerId) return hubConnection
  const circuit = hubConnection.remoteAddr.encapsulate(`/p2p-circuit/p2p/${target.peerId}`)
  if (options.webrtc !== false) {
    const webrtcAddress = hubConnection.remoteAddr.encapsulate(
      `/p2p-circuit/webrtc/p2p/${target.peerId}`,
    )
    const connection = await dialWebRTC(
      libp2p,
      webrtcAddress,
      target.peerId,
      options.webrtcTimeout ?? DEFAULT_WEBRTC_TIMEOUT,
      signal,
    )
    if (connection != null) return connection
    // WebRTC could not get through (symmetric NATs, UDP blocked): stay on the relay.
    log('WebRTC to %s failed, staying on the relay', target.peerId)
  }
  return checkPeer(await libp2p.dial(circuit, { signal, force: fresh }), target.peerId)
}

/**
 * Sets up WebRTC through the hub within `budget` ms, or returns undefined. An attempt still
 * pending after `WEBRTC_RETRY_AFTER` is given up and retried (up to `WEBRTC_ATTEMPTS`; the last
 * one gets the rest of the budget), because an attempt can hang instead of failing. With
 * node-datachannel 0.33 (libdatachannel 0.24), when the host's DTLS handshake reaches the guest
 * while it is still applying the host's SDP answer, the guest checks the host's certificate
 * before it has stored the answer, and the handshake fails ("certificate verify failed"); and
 * @libp2p/webrtc 6.0.33 does not notice the closed peer connection: the dial waits for its
 * `init` data channel until it times out. On loopback that hit 4 % of dials (0.5–13 % per run)
 * with host and guest in one process and 1 in 300 with separate processes; a retry is as likely
 * to succeed as a first attempt. Other errors end WebRTC at once.
 */
async function dialWebRTC(
  libp2p: Libp2p,
  address: Multiaddr,
  peerId: string,
  budget: number,
  signal: AbortSignal,
): Promise<Connection | undefined> {
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(budget)])
  for (let attempt = 1; attempt <= WEBRTC_ATTEMPTS && !deadline.aborted; attempt++) {
    const retry = attempt < WEBRTC_ATTEMPTS ? AbortSignal.timeout(WEBRTC_RETRY_AFTER) : undefined
    try {
      const connection = await libp2p.dial(address, {
        signal: retry == null ? deadline : AbortSignal.any([deadline, retry]),
      })
      return checkPeer(connection, peerId)
    } catch (err) {
      signal.throwIfAborted()
      log('WebRTC attempt %d to %s failed: %e', attempt, peerId, err)
      // libp2p's own per-address dial timeout may end an attempt first: a hung attempt too.
      const hung = retry?.aborted === true || (err as Error)?.name === 'TimeoutError'
      if (!hung) return undefined
    }
  }
  return undefined
}

function checkPeer(connection: Connection, peerId: string): Connection {
  if (connection.remotePeer.toString() !== peerId) {
    void connection.close()
    throw new ConnectionError(`Reached ${connection.remotePeer} instead of ${peerId}`)
  }
  return connection
}

async function createGuestNode(platform: GuestPlatform, options: ConnectOptions): Promise<Libp2p> {
  const defaults = platform.transports({ iceServers: options.iceServers })
  const transports =
    typeof options.transports === 'function'
      ? options.transports(defaults)
      : (options.transports ?? defaults)
  const init: Libp2pOptions = {
    ...platform.nodeOptions(),
    // libp2p gives each dialled address 6 s by default, which would cut webrtcTimeout short.
    connectionManager: {
      addressDialTimeout: Math.max(options.webrtcTimeout ?? DEFAULT_WEBRTC_TIMEOUT, 6_000),
    },
    privateKey: options.privateKey,
    transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  }
  return createLibp2p(init)
}
