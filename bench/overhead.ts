/**
 * `npm run bench`: what p2p adds to a request. Side by side in one run, against one
 * llama-server on the tiny model: a direct HTTP call to `/completion` (undici, keep-alive) and
 * the same request through p2p-llm (host in its own process, guest over TCP on loopback), non-streamed and
 * streamed. Reports medians, p90s and the ratios p2p / direct.
 *
 * Options (env): BENCH_ROUNDS (default 300), BENCH_WARMUP (default 300), BENCH_TOKENS (32).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpus } from 'node:os'
import { createInterface } from 'node:readline'
import { Agent, request } from 'undici'
import { obtainLlamaServer, obtainTinyModel } from '../scripts/assets.ts'
import { startLlamaServer } from '../scripts/run-llama-server.ts'
import { readServerSentEvents } from '../src/backends/sse.ts'
import { connectToModel } from '../src/index.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 300)
const warmup = Number(process.env.BENCH_WARMUP ?? 300)
const tokens = Number(process.env.BENCH_TOKENS ?? 32)
const prompt = 'Tell me something'
// ignore_eos: every request generates exactly `tokens` tokens, so both paths do equal work.
const parameters = { ignore_eos: true, cache_prompt: true }

interface Sample {
  total: number
  ttft: number
}

const binary = await obtainLlamaServer()
const llama = await startLlamaServer({
  binary,
  model: await obtainTinyModel('scripted', binary),
  parallel: 1,
})
const hostProcess = spawn(
  process.execPath,
  ['--import', 'tsx', new URL('./host-process.ts', import.meta.url).pathname, llama.url],
  {
    stdio: ['pipe', 'pipe', 'inherit'],
  },
)
const [line] = (await once(createInterface({ input: hostProcess.stdout }), 'line')) as [string]
const { multiaddrs } = JSON.parse(line) as { multiaddrs: string[] }
const tcpAddress = multiaddrs.find((ma) => ma.includes('/tcp/') && !ma.includes('/ws')) as string
const guest = await connectToModel(tcpAddress)
const dispatcher = new Agent({ keepAliveTimeout: 30_000 })

async function direct(stream: boolean): Promise<Sample> {
  const started = performance.now()
  const res = await request(`${llama.url}/completion`, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, n_predict: tokens, stream, ...parameters }),
  })
  if (!stream) {
    const body = (await res.body.json()) as { content: string }
    if (body.content === '') throw new Error('empty reply')
    const total = performance.now() - started
    return { total, ttft: total }
  }
  let ttft = 0
  for await (const event of readServerSentEvents(res.body)) {
    const data = JSON.parse(event.data) as { content: string; stop: boolean }
    if (ttft === 0 && data.content !== '') ttft = performance.now() - started
    if (data.stop) break
  }
  return { total: performance.now() - started, ttft }
}

async function p2p(stream: boolean): Promise<Sample> {
  const started = performance.now()
  const request = { prompt, max_tokens: tokens, parameters }
  if (!stream) {
    const res = await guest.complete(request)
    if (res.content === '') throw new Error('empty reply')
    const total = performance.now() - started
    return { total, ttft: total }
  }
  let ttft = 0
  for await (const chunk of guest.stream(request)) {
    if (ttft === 0 && chunk.content !== '') ttft = performance.now() - started
  }
  return { total: performance.now() - started, ttft }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

const results: Record<string, Record<'direct' | 'p2p', Sample[]>> = {
  'non-streamed': { direct: [], p2p: [] },
  streamed: { direct: [], p2p: [] },
}

try {
  for (let i = 0; i < warmup; i++) {
    await direct(i % 2 === 0)
    await p2p(i % 2 === 0)
  }
  for (let i = 0; i < rounds; i++) {
    for (const stream of [false, true]) {
      const bucket = results[stream ? 'streamed' : 'non-streamed'] as Record<
        'direct' | 'p2p',
        Sample[]
      >
      // Alternate who goes first so drift in the machine's load hits both sides alike.
      if (i % 2 === 0) {
        bucket.direct.push(await direct(stream))
        bucket.p2p.push(await p2p(stream))
      } else {
        bucket.p2p.push(await p2p(stream))
        bucket.direct.push(await direct(stream))
      }
    }
  }
} finally {
  await guest.close()
  hostProcess.stdin.end()
  await once(hostProcess, 'exit')
  await dispatcher.close()
  await llama.stop()
}

const ms = (value: number) => `${value.toFixed(2)} ms`
console.log(
  `\np2p-llm overhead bench: ${rounds} rounds after ${warmup} warm-up, ${tokens} tokens per request, ` +
    `TCP on loopback, Node ${process.versions.node}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}\n`,
)
const rows: Record<string, Record<string, string>> = {}
for (const [mode, { direct, p2p }] of Object.entries(results)) {
  const metrics: Array<['total' | 'ttft', string]> =
    mode === 'streamed'
      ? [
          ['total', 'total'],
          ['ttft', 'time to first token'],
        ]
      : [['total', 'total']]
  for (const [key, label] of metrics) {
    const d50 = quantile(
      direct.map((s) => s[key]),
      0.5,
    )
    const p50 = quantile(
      p2p.map((s) => s[key]),
      0.5,
    )
    const d90 = quantile(
      direct.map((s) => s[key]),
      0.9,
    )
    const p90 = quantile(
      p2p.map((s) => s[key]),
      0.9,
    )
    rows[`${mode} ${label}`] = {
      'direct p50': ms(d50),
      'p2p p50': ms(p50),
      'ratio p50': (p50 / d50).toFixed(3),
      'added p50': ms(p50 - d50),
      'direct p90': ms(d90),
      'p2p p90': ms(p90),
      'ratio p90': (p90 / d90).toFixed(3),
    }
  }
}
console.table(rows)
console.log('Targets: total ratio ≤ 1.03; time to first token + ≤ 2 ms.')
