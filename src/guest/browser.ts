/**
 * @packageDocumentation
 *
 * The guest side in browsers (WebSockets, WebRTC, circuit relay; no Node built-ins): reach a shared model and ask it for completions.
 *
 * @example
 * ```ts
 * import { connectToModel } from 'p2p-llm'
 *
 * const model = await connectToModel(shareUrl, { apiKey })
 * for await (const chunk of model.stream({ prompt: 'Hi', max_tokens: 16 })) {
 *   console.log(chunk.content)
 * }
 * await model.close()
 * ```
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { type ConnectOptions, connectToModelOn } from './connect.ts'
import { browserPlatform } from './platform-browser.ts'
import type { RemoteModel } from './remote-model.ts'

export type * from './types.ts'

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
 * console.log(model.connection.kind) // 'direct', 'webrtc' or 'relayed'
 * await model.close()
 * ```
 */
export function connectToModel(
  address: string | Multiaddr,
  options?: ConnectOptions,
): Promise<RemoteModel> {
  return connectToModelOn(browserPlatform, address, options)
}
