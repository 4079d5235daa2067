/**
 * @packageDocumentation
 *
 * The host side: share a model backend with guests over `/llama/1.0.0`.
 *
 * @example
 * ```ts
 * import { createModelHost, llamaCpp } from 'p2p-llm'
 *
 * const host = await createModelHost({ backend: llamaCpp({ url: 'http://127.0.0.1:8080' }) })
 * console.log(host.shareUrl) // p2p://12D3Koo…@127.0.0.1:40123
 * host.addEventListener('request:end', ({ detail }) => console.log(detail.peerId, detail.duration))
 * // …
 * await host.stop()
 * ```
 */
export * from './events.ts'
export type { GuestConnection } from './guest-registry.ts'
export { createModelHost, type ModelHost, type ModelHostInit } from './model-host.ts'
export {
  type BlockOptions,
  type HostStats,
  type ModelHostComponents,
  type ModelHostService,
  type ModelHostServiceInit,
  modelHost,
} from './model-host-service.ts'
