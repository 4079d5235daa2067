/**
 * `npm run bench:backends`: tokens per second of the two ways to run a GGUF, side by side —
 * in-process through node-llama-cpp (`nodeLlamaCpp()`) and out of process through llama-server
 * (`llamaCpp()`, HTTP on loopback) — on the same file with the same thread count, driven through
 * the same `ModelBackend` interface the host uses (no p2p: `npm run bench` measures that).
 *
 * Every request generates exactly BENCH_TOKENS tokens (`ignore_eos`), greedy and without
 * repetition penalties on both sides (their default samplers differ), so both do the same work.
 * Rounds alternate which backend goes first.
 *
 * Options (env): BENCH_MODEL (a GGUF; default the tiny scripted model), BENCH_THREADS (default
 * the backend's default, `defaultThreads()`), BENCH_TOKENS (256), BENCH_ROUNDS (10),
 * BENCH_WARMUP (3).
 */
import { availableParallelism, cpus, loadavg } from 'node:os'
import { basename } from 'node:path'
import { obtainLlamaServer, obtainTinyModel } from '../scripts/assets.ts'
import { startLlamaServer } from '../scripts/run-llama-server.ts'
import { defaultThreads, nodeLlamaCpp } from '../src/backends/node-llama-cpp.ts'
import type { GenerateChunk, ModelBackend } from '../src/index.ts'
import { llamaCpp } from '../src/index.ts'

const tokens = Number(process.env.BENCH_TOKENS ?? 256)
const rounds = Number(process.env.BENCH_ROUNDS ?? 10)
const warmup = Number(process.env.BENCH_WARMUP ?? 3)
const threads = Number(process.env.BENCH_THREADS ?? defaultThreads())
const prompt = 'Tell me something'
const parameters = { ignore_eos: true, repeat_penalty: 1, cache_prompt: true }

const binary = await obtainLlamaServer()
const modelPath = process.env.BENCH_MODEL ?? (await obtainTinyModel('scripted', binary))

let started = performance.now()
const server = await startLlamaServer({
  binary,
  model: modelPath,
  parallel: 1,
  args: ['-t', String(threads), '-tb', String(threads)],
})
const serverStartMs = performance.now() - started

started = performance.now()
const inProcess = nodeLlamaCpp({ modelPath, threads, gpu: false, contextSize: 2048 })
await inProcess.load()
const loadMs = performance.now() - started

const backends: Record<string, ModelBackend> = {
  'node-llama-cpp (in-process)': inProcess,
  'llama-server (HTTP)': llamaCpp({ url: server.url }),
}

interface Sample {
  /** Request start to last chunk, ms. */
  wall: number
  /** Request start to first text, ms. */
  ttft: number
  /** Tokens per second the backend itself reports for the generation phase. */
  reported: number
}

async function once(backend: ModelBackend, stream: boolean): Promise<Sample> {
  const start = performance.now()
  let ttft = 0
  let final: GenerateChunk | undefined
  const signal = new AbortController().signal
  for await (const chunk of backend.generate(
    { prompt, max_tokens: tokens, temperature: 0, stream, parameters },
    { signal },
  )) {
    if (ttft === 0 && chunk.content !== '') ttft = performance.now() - start
    if (chunk.stop === true) final = chunk
  }
  const wall = performance.now() - start
  if (final?.tokens_predicted !== tokens)
    throw new Error(`expected ${tokens} tokens, got ${String(final?.tokens_predicted)}`)
  const timings = final.timings as { predicted_per_second?: number } | undefined
  return { wall, ttft, reported: timings?.predicted_per_second ?? Number.NaN }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const results = new Map<string, Sample[]>()
const names = Object.keys(backends)
try {
  for (const stream of [false, true])
    for (let i = 0; i < warmup; i++)
      for (const name of names) await once(backends[name] as ModelBackend, stream)
  for (let i = 0; i < rounds; i++) {
    for (const stream of [false, true]) {
      const order = i % 2 === 0 ? names : [...names].reverse()
      for (const name of order) {
        const key = `${name} ${stream ? 'streamed' : 'whole'}`
        const samples = results.get(key) ?? []
        samples.push(await once(backends[name] as ModelBackend, stream))
        results.set(key, samples)
      }
    }
  }
} finally {
  for (const backend of Object.values(backends)) await backend.close?.()
  await server.stop()
}

console.log(
  `\nBackends bench: ${basename(modelPath)}, ${tokens} tokens per request (ignore_eos, greedy), ` +
    `${threads} thread(s), ${rounds} rounds after ${warmup} warm-up, Node ${process.versions.node}, ` +
    `${availableParallelism()}× ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
)
const rows: Record<string, Record<string, string>> = {}
for (const [key, samples] of results) {
  const wall = median(samples.map((s) => s.wall))
  rows[key] = {
    'wall p50': `${wall.toFixed(1)} ms`,
    'wall min': `${Math.min(...samples.map((s) => s.wall)).toFixed(1)} ms`,
    'first text p50': `${median(samples.map((s) => s.ttft)).toFixed(1)} ms`,
    'tok/s end to end': (tokens / (wall / 1000)).toFixed(0),
    'tok/s generation (reported)': median(samples.map((s) => s.reported)).toFixed(0),
  }
}
console.table(rows)
console.log(
  `Start-up: llama-server to healthy ${serverStartMs.toFixed(0)} ms; ` +
    `node-llama-cpp getLlama + load + context ${loadMs.toFixed(0)} ms.`,
)
