/**
 * @packageDocumentation
 *
 * The guest side: reach a shared model and ask it for completions.
 *
 * @example
 * ```ts
 * import { connectToModel } from 'p2p-llm'
 *
 * const model = await connectToModel(shareUrl, { apiKey })
 * for await (const chunk of model.stream({ prompt: 'Hi', max_tokens: 16 })) {
 *   process.stdout.write(chunk.content)
 * }
 * await model.close()
 * ```
 */
export { type ConnectOptions, connectToModel } from './connect.ts'
export type {
  CallOptions,
  ChatParams,
  CompletionChunk,
  CompletionParams,
  CompletionResult,
  RemoteModel,
} from './remote-model.ts'
