/**
 * What tests, the demo and the bench need besides npm packages: a llama-server binary and a
 * tiny scripted GGUF model, both cached outside the repo (see scripts/llama-server.sh).
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { writeTinyModel } from './tiny-model.ts'

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))

export function cacheDir(): string {
  return (
    process.env.P2P_LLM_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'p2p-llm')
  )
}

/** The llama-server binary: $LLAMA_SERVER, the cached build, or a new build (minutes). */
export async function obtainLlamaServer(): Promise<string> {
  const { stdout } = await run('bash', [join(here, 'llama-server.sh')], { maxBuffer: 1 << 20 })
  const path = stdout.trim().split('\n').pop() ?? ''
  if (!existsSync(path))
    throw new Error(`scripts/llama-server.sh printed no binary path: ${stdout}`)
  return path
}

/**
 * A tiny GGUF model made from the vocabulary that ships with the llama.cpp source. `scripted`
 * answers every prompt with `SCRIPTED_REPLY`; `random` babbles. Cached by generator version.
 */
export async function obtainTinyModel(
  kind: 'scripted' | 'random' = 'scripted',
  llamaServer?: string,
): Promise<string> {
  const binary = llamaServer ?? (await obtainLlamaServer())
  const vocabPath = join(dirname(binary), 'models', 'ggml-vocab-llama-spm.gguf')
  const generator = readFileSync(join(here, 'tiny-model.ts'))
  const version = createHash('sha256').update(generator).digest('hex').slice(0, 12)
  const dir = join(cacheDir(), 'models')
  const outPath = join(dir, `tiny-${kind}-${version}.gguf`)
  if (!existsSync(outPath)) {
    mkdirSync(dir, { recursive: true })
    const tmp = `${outPath}.${process.pid}.tmp`
    await writeTinyModel({ vocabPath, outPath: tmp, kind })
    renameSync(tmp, outPath)
  }
  return outPath
}
