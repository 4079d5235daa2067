/**
 * @packageDocumentation
 *
 * Backend adapters: what a host shares. Each is a factory returning a {@link ModelBackend};
 * write your own by implementing that interface (see docs/backends.md).
 *
 * @example
 * ```ts
 * import { createModelHost, llamaCpp } from 'p2p-llm'
 *
 * const host = await createModelHost({ backend: llamaCpp({ url: 'http://127.0.0.1:8080' }) })
 * ```
 */
export type {
  BackendCallOptions,
  GenerateChunk,
  GenerateOptions,
  GenerateRequest,
  ModelBackend,
  ModelInfo,
} from '../codec/backend.ts'
export { DEFAULT_LLAMA_CPP_URL, type LlamaCppInit, llamaCpp } from './llama-cpp.ts'
export { type OpenAICompatibleInit, openAICompatible } from './openai-compatible.ts'
