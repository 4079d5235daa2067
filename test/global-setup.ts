import type { TestProject } from 'vitest/node'
import { obtainLlamaServer, obtainTinyModel } from '../scripts/assets.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the llama-server binary. */
    llamaServer: string
    /** Path of the scripted tiny GGUF (answers every prompt with SCRIPTED_REPLY). */
    scriptedModel: string
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const llamaServer = await obtainLlamaServer()
  project.provide('llamaServer', llamaServer)
  project.provide('scriptedModel', await obtainTinyModel('scripted', llamaServer))
}
