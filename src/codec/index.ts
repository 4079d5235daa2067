/**
 * @packageDocumentation
 *
 * The `/llama/1.0.0` wire protocol: protocol id, frame codec, request/response schemas and
 * error classes. Imports neither host nor guest, so both (and browsers) can use it.
 *
 * @example
 * ```ts
 * import { PROTOCOL, frameStream } from 'p2p-llm/codec'
 *
 * const stream = await node.dialProtocol(hostAddress, PROTOCOL)
 * const frames = frameStream(stream)
 * await frames.write({ prompt: 'Hi', max_tokens: 16 })
 * console.log(await frames.read()) // { success: true, data: { content: '…', stop: true } }
 * ```
 */
export * from './backend.ts'
export * from './connection-kind.ts'
export * from './constants.ts'
export * from './errors.ts'
export * from './frames.ts'
export * from './hub-address.ts'
export * from './schemas.ts'
export * from './share-url.ts'
export type { TransportFactories } from './transports.ts'
