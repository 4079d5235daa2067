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
 * // …
 * await host.stop()
 * ```
 */
export {
  createModelHost,
  type ModelHost,
  type ModelHostEvents,
  type ModelHostInit,
  type RequestEndEvent,
  type RequestErrorEvent,
  type RequestStartEvent,
} from './model-host.ts'
export {
  type ModelHostComponents,
  type ModelHostService,
  type ModelHostServiceInit,
  modelHost,
} from './model-host-service.ts'
export type { RequestInfo, RequestObserver, RequestResult } from './request-handler.ts'
