/** The guest's public types, shared by the Node (./index.ts) and browser (./browser.ts) entries. */
export type { ConnectOptions } from './connect.ts'
export type {
  CallOptions,
  ChatParams,
  CompletionChunk,
  CompletionParams,
  CompletionResult,
  RemoteModel,
} from './remote-model.ts'
