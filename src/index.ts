/**
 * @packageDocumentation
 *
 * p2p-llm: share a local LLM with guests anywhere, peer to peer over js-libp2p.
 *
 * @example
 * ```ts
 * import { createModelHost, connectToModel, llamaCpp } from 'p2p-llm'
 *
 * const host = await createModelHost({ backend: llamaCpp({ url: 'http://127.0.0.1:8080' }) })
 * const model = await connectToModel(host.shareUrl)
 * const res = await model.complete({ prompt: 'Hi', max_tokens: 16 })
 * console.log(res.content)
 * await model.close()
 * await host.stop()
 * ```
 */
export * from './backends/index.ts'
export * from './codec/index.ts'
export * from './guest/index.ts'
export * from './host/index.ts'
export { InvalidIdentityError, loadOrCreateIdentity } from './identity/index.ts'
export * from './panel/index.ts'
export * from './proxy/index.ts'
export * from './relay/index.ts'
