/** Picks the backend `p2p-llm host` shares from its flags. */
import { llamaCpp, type ModelBackend, openAICompatible } from '../backends/index.ts'

export interface BackendOptions {
  llama: string
  llamaSocket?: string
  openai?: string
  openaiKey?: string
  openaiModel?: string
  model?: string
  threads?: number
}

export interface ChosenBackend {
  backend: ModelBackend
  /** What is shared, for people: `llama.cpp at http://…`. */
  label: string
}

export async function backendFromOptions(options: BackendOptions): Promise<ChosenBackend> {
  if (options.model != null) {
    // Loaded on demand: node-llama-cpp is an optional dependency.
    const { nodeLlamaCpp } = await import('../backends/node-llama-cpp.ts')
    let shown = -1
    const backend = nodeLlamaCpp({
      modelPath: options.model,
      threads: options.threads,
      onLoadProgress: (progress) => {
        const percent = Math.floor(progress * 100)
        if (percent >= shown + 10 || percent === 100) {
          shown = percent
          process.stderr.write(`loading ${options.model}: ${percent}%\n`)
        }
      },
    })
    await backend.load()
    return { backend, label: `${options.model} (in-process, node-llama-cpp)` }
  }
  if (options.openai != null) {
    return {
      backend: openAICompatible({
        baseURL: options.openai,
        apiKey: options.openaiKey,
        model: options.openaiModel,
      }),
      label: `OpenAI-compatible server at ${options.openai}`,
    }
  }
  const target = options.llamaSocket != null ? `unix:${options.llamaSocket}` : options.llama
  return {
    backend: llamaCpp({ url: options.llama, socketPath: options.llamaSocket }),
    label: `llama.cpp at ${target}`,
  }
}
