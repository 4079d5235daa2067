/**
 * `npm run bench:proxy`: what the OpenAI-compatible proxy adds to a request made with the SDK.
 * Side by side in one run, against one host (in its own process, on one llama-server with the
 * tiny model): the SDK (`connectToModel`, TCP on loopback), and the same request through the
 * proxy (`p2p-llm proxy` in its own process, as users run it) with a plain HTTP client (undici,
 * keep-alive) and with the official `openai` client. Non-streamed total, streamed time to first
 * token and streamed total; medians and p90s after warm-up.
 *
 * Options (env): BENCH_ROUNDS (default 200), BENCH_WARMUP (default 100), BENCH_TOKENS (32).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpus } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import OpenAI from 'openai'
import { Agent, request } from 'undici'
import { obtainLlamaServer, obtainTinyModel } from '../scripts/assets.ts'
import { startLlamaServer } from '../scripts/run-llama-server.ts'
import { readServerSentEvents } from '../src/backends/sse.ts'
import { connectToModel } from '../src/index.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 200)
const warmup = Number(process.env.BENCH_WARMUP ?? 100)
const tokens = Number(process.env.BENCH_TOKENS ?? 32)
const prompt = 'Tell me something'
// ignore_eos: every request generates exactly `tokens` tokens, so every path does equal work.
const parameters = { ignore_eos: true, cache_prompt: true }
const root = fileURLToPath(new URL('..', import.meta.url))

type Path = 'sdk' | 'proxy (http)' | 'proxy (openai)'
const paths: Path[] = ['sdk', 'proxy (http)', 'proxy (openai)']

interface Sample {
  total: number
  ttft: number
}

/** Starts a child process and returns it with the first stdout line matching `pattern`. */
async function startProcess(
  args: string[],
  pattern: RegExp,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    const match = pattern.exec(line)
    if (match != null) return { child, match }
  }
  throw new Error(`${args.join(' ')} exited before printing ${pattern}`)
}

const binary = await obtainLlamaServer()
const llama = await startLlamaServer({
  binary,
  model: await obtainTinyModel('scripted', binary),
  parallel: 1,
})
const host = await startProcess(['bench/host-process.ts', llama.url], /^\{.*\}$/)
const { multiaddrs } = JSON.parse(host.match[0]) as { multiaddrs: string[] }
const tcpAddress = multiaddrs.find((ma) => ma.includes('/tcp/') && !ma.includes('/ws')) as string
const proxy = await startProcess(
  ['src/cli/index.ts', 'proxy', tcpAddress, '--port', '0', '--no-stun'],
  /base URL: (\S+)/,
)
const baseURL = proxy.match[1] as string
const guest = await connectToModel(tcpAddress)
const dispatcher = new Agent({ keepAliveTimeout: 30_000 })
const openai = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 })

async function sdk(stream: boolean): Promise<Sample> {
  const started = performance.now()
  const params = { prompt, max_tokens: tokens, parameters }
  if (!stream) {
    if ((await guest.complete(params)).content === '') throw new Error('empty reply')
    const total = performance.now() - started
    return { total, ttft: total }
  }
  let ttft = 0
  for await (const chunk of guest.stream(params)) {
    if (ttft === 0 && chunk.content !== '') ttft = performance.now() - started
  }
  return { total: performance.now() - started, ttft }
}

async function http(stream: boolean): Promise<Sample> {
  const started = performance.now()
  const res = await request(`${baseURL}/completions`, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: tokens, stream, ...parameters }),
  })
  if (res.statusCode !== 200)
    throw new Error(`proxy answered ${res.statusCode}: ${await res.body.text()}`)
  if (!stream) {
    const body = (await res.body.json()) as OpenAI.Completion
    if (body.choices[0]?.text === '') throw new Error('empty reply')
    const total = performance.now() - started
    return { total, ttft: total }
  }
  let ttft = 0
  for await (const event of readServerSentEvents(res.body)) {
    if (event.data === '[DONE]') break
    const chunk = JSON.parse(event.data) as OpenAI.Completion
    if (ttft === 0 && (chunk.choices[0]?.text ?? '') !== '') ttft = performance.now() - started
  }
  return { total: performance.now() - started, ttft }
}

async function viaOpenAI(stream: boolean): Promise<Sample> {
  const started = performance.now()
  const body = { model: 'tiny', prompt, max_tokens: tokens, ...parameters }
  if (!stream) {
    const reply = await openai.completions.create(body)
    if (reply.choices[0]?.text === '') throw new Error('empty reply')
    const total = performance.now() - started
    return { total, ttft: total }
  }
  let ttft = 0
  for await (const chunk of await openai.completions.create({ ...body, stream: true })) {
    if (ttft === 0 && (chunk.choices[0]?.text ?? '') !== '') ttft = performance.now() - started
  }
  return { total: performance.now() - started, ttft }
}

const run: Record<Path, (stream: boolean) => Promise<Sample>> = {
  sdk,
  'proxy (http)': http,
  'proxy (openai)': viaOpenAI,
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

const results = {
  'non-streamed': Object.fromEntries(paths.map((path) => [path, [] as Sample[]])),
  streamed: Object.fromEntries(paths.map((path) => [path, [] as Sample[]])),
} as Record<'non-streamed' | 'streamed', Record<Path, Sample[]>>

try {
  for (let i = 0; i < warmup; i++) for (const path of paths) await run[path](i % 2 === 0)
  for (let i = 0; i < rounds; i++) {
    for (const stream of [false, true]) {
      const bucket = results[stream ? 'streamed' : 'non-streamed']
      // Rotate who goes first so drift in the machine's load hits every path alike.
      for (let k = 0; k < paths.length; k++) {
        const path = paths[(i + k) % paths.length] as Path
        bucket[path].push(await run[path](stream))
      }
    }
  }
} finally {
  await guest.close()
  proxy.child.kill('SIGTERM')
  await once(proxy.child, 'exit')
  host.child.stdin?.end()
  await once(host.child, 'exit')
  await dispatcher.close()
  await llama.stop()
}

const ms = (value: number) => `${value.toFixed(2)} ms`
console.log(
  `\np2p-llm proxy bench: ${rounds} rounds after ${warmup} warm-up, ${tokens} tokens per request, ` +
    `host and proxy in their own processes, TCP on loopback, Node ${process.versions.node}, ` +
    `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}\n`,
)
const metrics: Array<['non-streamed' | 'streamed', 'total' | 'ttft', string]> = [
  ['non-streamed', 'total', 'non-streamed total'],
  ['streamed', 'ttft', 'streamed time to first token'],
  ['streamed', 'total', 'streamed total'],
]
const rows: Record<string, Record<string, string>> = {}
for (const [mode, key, label] of metrics) {
  const sdkSamples = results[mode].sdk.map((sample) => sample[key])
  const sdk50 = quantile(sdkSamples, 0.5)
  const sdk90 = quantile(sdkSamples, 0.9)
  for (const path of paths) {
    const samples = results[mode][path].map((sample) => sample[key])
    const p50 = quantile(samples, 0.5)
    const p90 = quantile(samples, 0.9)
    rows[`${label}, ${path}`] = {
      p50: ms(p50),
      p90: ms(p90),
      'added p50': path === 'sdk' ? '' : ms(p50 - sdk50),
      'added p90': path === 'sdk' ? '' : ms(p90 - sdk90),
      'ratio p50': (p50 / sdk50).toFixed(3),
    }
  }
}
console.table(rows)
