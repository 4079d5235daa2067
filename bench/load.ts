/**
 * `npm run bench:load`: one host under a crowd. The host runs in its own process (as in real
 * use) in front of llama-server (`--parallel 4`, the host's `maxConcurrentRequests` to match);
 * 100 guests, each its own libp2p node made by `connectToModel`, live in 2 other processes (so
 * the guests' event loop is not billed to the host) and stream completions of a fixed length
 * (`ignore_eos`). Reports throughput (requests/s, tokens/s), time to first token (p50/p99),
 * the host's memory per connection and failures, next to llama-server alone under the same
 * crowd (direct HTTP).
 *
 * Options (env): LOAD_GUESTS (100), LOAD_REQUESTS (5 per guest), LOAD_TOKENS (32),
 * LOAD_PROCESSES (2), LOAD_PARALLEL (4: llama-server slots), LOAD_QUEUE (1024: the host's
 * maxQueuedRequests), LOAD_BASELINE (1: also measure llama-server directly).
 *
 * The same file is the host process (`load.ts host <llama url> <parallel> <queue>`) and the guest
 * processes (`load.ts guests <address> <count> <requests> <tokens>`).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpus } from 'node:os'
import { createInterface, type Interface } from 'node:readline'
import { tcp } from '@libp2p/tcp'
import { Agent, request } from 'undici'
import { obtainLlamaServer, obtainTinyModel } from '../scripts/assets.ts'
import { startLlamaServer } from '../scripts/run-llama-server.ts'
import { readServerSentEvents } from '../src/backends/sse.ts'
import { connectToModel, createModelHost, llamaCpp, type RemoteModel } from '../src/index.ts'

const PROMPT = 'Tell me something'
/** Every request generates exactly `tokens` tokens. */
const parameters = { ignore_eos: true, cache_prompt: true }

interface Sample {
  ok: boolean
  code?: string
  ttft: number
  total: number
  tokens: number
}

const print = (message: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

// ---------------------------------------------------------------------------------------------
// Role: host process.
// ---------------------------------------------------------------------------------------------

async function hostRole(url: string, parallel: number, queue: number): Promise<void> {
  const host = await createModelHost({
    backend: llamaCpp({ url }),
    // Room for the whole crowd, and for all of it waiting at once for llama-server's slots
    // (the default queue of 64 would refuse a third of 100 simultaneous requests).
    maxConnections: 128,
    maxConcurrentRequests: parallel,
    maxQueuedRequests: queue,
  })
  const gc = (globalThis as { gc?: () => void }).gc
  print({ type: 'ready', multiaddrs: host.multiaddrs, shareUrl: host.shareUrl })
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  // Until stdin closes (bounded: the bench asks a few hundred times at most).
  for (let i = 0; i < 1_000_000; i++) {
    const { value: line, done } = await lines.next()
    if (done === true) break
    if (line === 'stats') {
      gc?.()
      gc?.()
      print({
        type: 'stats',
        memory: process.memoryUsage(),
        stats: host.stats(),
        guests: host.connections().length,
        connections: host.libp2p.getConnections().length,
      })
    }
  }
  await host.stop()
  process.exit(0)
}

// ---------------------------------------------------------------------------------------------
// Role: a process of guests.
// ---------------------------------------------------------------------------------------------

async function guestsRole(
  address: string,
  count: number,
  requests: number,
  tokens: number,
): Promise<void> {
  const models: RemoteModel[] = []
  let failedConnects = 0
  // At most ~40 new connections a second per process: the host admits 100 a second per IP.
  const connecting: Array<Promise<void>> = []
  for (let i = 0; i < count; i++) {
    connecting.push(
      connectToModel(address, { transports: [tcp()] }).then(
        (model) => {
          models.push(model)
        },
        () => {
          failedConnects++
        },
      ),
    )
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  await Promise.all(connecting)
  // Warm the path up once (JIT, llama-server's prompt cache).
  if (models[0] != null) await models[0].complete({ prompt: PROMPT, max_tokens: 4 }).catch(() => {})
  print({ type: 'ready', connected: models.length, failedConnects })
  const lines = createInterface({ input: process.stdin })
  const iterator = lines[Symbol.asyncIterator]()
  for (let i = 0; i < 100; i++) {
    const { value, done } = await iterator.next()
    if (done === true) process.exit(1)
    if (value === 'go') break
  }
  const started = performance.now()
  const samples: Sample[] = []
  await Promise.all(
    models.map(async (model) => {
      for (let i = 0; i < requests; i++) samples.push(await streamOnce(model, tokens))
    }),
  )
  print({ type: 'done', samples, elapsed: performance.now() - started })
  for (let i = 0; i < 100; i++) {
    const { value, done } = await iterator.next()
    if (done === true || value === 'quit') break
  }
  await Promise.all(models.map((model) => model.close().catch(() => {})))
  process.exit(0)
}

async function streamOnce(model: RemoteModel, tokens: number): Promise<Sample> {
  const started = performance.now()
  let ttft = 0
  let generated = 0
  try {
    for await (const chunk of model.stream({ prompt: PROMPT, max_tokens: tokens, parameters })) {
      if (ttft === 0 && chunk.content !== '') ttft = performance.now() - started
      if (chunk.stop && typeof chunk.tokens_predicted === 'number')
        generated = chunk.tokens_predicted
    }
    return { ok: true, ttft, total: performance.now() - started, tokens: generated }
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'ERROR'
    return { ok: false, code, ttft, total: performance.now() - started, tokens: 0 }
  }
}

// ---------------------------------------------------------------------------------------------
// Role: the bench itself.
// ---------------------------------------------------------------------------------------------

interface Child {
  process: ChildProcess
  lines: AsyncIterator<string>
  send(line: string): void
  next<T>(type: string): Promise<T>
}

function child(args: string[], flags: string[] = []): Child {
  const proc = spawn(
    process.execPath,
    [...flags, '--import', 'tsx', import.meta.filename, ...args],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  )
  const lines = (
    createInterface({ input: proc.stdout as NonNullable<typeof proc.stdout> }) as Interface
  )[Symbol.asyncIterator]()
  return {
    process: proc,
    lines,
    send: (line) => proc.stdin?.write(`${line}\n`),
    async next<T>(type: string): Promise<T> {
      for (let i = 0; i < 1000; i++) {
        const { value, done } = await lines.next()
        if (done === true) throw new Error(`child ${args[0]} exited before "${type}"`)
        const message = JSON.parse(value) as { type: string }
        if (message.type === type) return message as T
      }
      throw new Error(`no "${type}" from child ${args[0]}`)
    },
  }
}

interface HostStatsMessage {
  memory: NodeJS.MemoryUsage
  stats: { completedRequests: number; failedRequests: number; errors: Record<string, number> }
  guests: number
  connections: number
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode != null || proc.signalCode != null) return
  proc.stdin?.end()
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
  await once(proc, 'exit')
  clearTimeout(timer)
}

/** The same crowd straight at llama-server: `guests` concurrent clients, `requests` each. */
async function baseline(url: string, guests: number, requests: number, tokens: number) {
  const dispatcher = new Agent({ connections: guests, keepAliveTimeout: 30_000 })
  const samples: Sample[] = []
  const started = performance.now()
  await Promise.all(
    Array.from({ length: guests }, async () => {
      for (let i = 0; i < requests; i++) {
        const begun = performance.now()
        let ttft = 0
        let generated = 0
        try {
          const res = await request(`${url}/completion`, {
            method: 'POST',
            dispatcher,
            // A new connection per stream: llama-server closes it after each streamed reply
            // (see src/backends/http.ts); reusing it races that close.
            reset: true,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              prompt: PROMPT,
              n_predict: tokens,
              stream: true,
              ...parameters,
            }),
          })
          if (res.statusCode !== 200) {
            await res.body.dump()
            throw Object.assign(new Error('HTTP error'), { code: `HTTP ${res.statusCode}` })
          }
          for await (const event of readServerSentEvents(res.body)) {
            const data = JSON.parse(event.data) as {
              content: string
              stop: boolean
              tokens_predicted?: number
            }
            if (ttft === 0 && data.content !== '') ttft = performance.now() - begun
            if (data.stop) {
              generated = data.tokens_predicted ?? 0
              break
            }
          }
          samples.push({ ok: true, ttft, total: performance.now() - begun, tokens: generated })
        } catch (err) {
          const code = (err as { code?: string }).code ?? (err as Error).name
          samples.push({ ok: false, code, ttft, total: performance.now() - begun, tokens: 0 })
        }
      }
    }),
  )
  const elapsed = performance.now() - started
  await dispatcher.close()
  return { samples, elapsed }
}

function summarize(samples: Sample[], elapsed: number): Record<string, string | number> {
  const ok = samples.filter((s) => s.ok)
  const tokens = ok.reduce((sum, s) => sum + s.tokens, 0)
  const ttft = ok.map((s) => s.ttft)
  const total = ok.map((s) => s.total)
  const failures: Record<string, number> = {}
  for (const s of samples)
    if (!s.ok) failures[s.code ?? 'ERROR'] = (failures[s.code ?? 'ERROR'] ?? 0) + 1
  return {
    requests: samples.length,
    failed: samples.length - ok.length,
    'failures by code': Object.keys(failures).length > 0 ? JSON.stringify(failures) : '-',
    'wall time': `${(elapsed / 1000).toFixed(2)} s`,
    'requests/s': (ok.length / (elapsed / 1000)).toFixed(1),
    'tokens/s': (tokens / (elapsed / 1000)).toFixed(0),
    'tokens per request': ok.length > 0 ? (tokens / ok.length).toFixed(1) : '-',
    'ttft p50': `${quantile(ttft, 0.5).toFixed(1)} ms`,
    'ttft p99': `${quantile(ttft, 0.99).toFixed(1)} ms`,
    'total p50': `${quantile(total, 0.5).toFixed(1)} ms`,
    'total p99': `${quantile(total, 0.99).toFixed(1)} ms`,
  }
}

async function main(): Promise<void> {
  const guests = Number(process.env.LOAD_GUESTS ?? 100)
  const requests = Number(process.env.LOAD_REQUESTS ?? 5)
  const tokens = Number(process.env.LOAD_TOKENS ?? 32)
  const processes = Math.max(1, Number(process.env.LOAD_PROCESSES ?? 2))
  const parallel = Number(process.env.LOAD_PARALLEL ?? 4)
  const withBaseline = process.env.LOAD_BASELINE !== '0'
  const queue = Number(process.env.LOAD_QUEUE ?? 1024)

  const binary = await obtainLlamaServer()
  const llama = await startLlamaServer({
    binary,
    model: await obtainTinyModel('scripted', binary),
    parallel,
  })
  const host = child(['host', llama.url, String(parallel), String(queue)], ['--expose-gc'])
  const children: Child[] = [host]
  try {
    const { multiaddrs } = await host.next<{ multiaddrs: string[] }>('ready')
    const address = multiaddrs.find((ma) => ma.includes('/tcp/') && !ma.includes('/ws')) as string
    const hostStats = async (): Promise<HostStatsMessage> => {
      host.send('stats')
      return host.next<HostStatsMessage>('stats')
    }

    // Warm the host up with one guest, then take the idle baseline without it.
    const warm = child(['guests', address, '1', '20', String(tokens)])
    await warm.next('ready')
    warm.send('go')
    await warm.next('done')
    warm.send('quit')
    await stop(warm.process)
    for (let i = 0; i < 100 && (await hostStats()).connections > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 100))
    const idle = await hostStats()

    // The crowd connects (spread over the processes), then everyone streams at once.
    const shares = Array.from(
      { length: processes },
      (_, i) => Math.floor(guests / processes) + (i < guests % processes ? 1 : 0),
    )
    const crowd = shares.map((count) =>
      child(['guests', address, String(count), String(requests), String(tokens)]),
    )
    children.push(...crowd)
    const ready = await Promise.all(
      crowd.map((c) => c.next<{ connected: number; failedConnects: number }>('ready')),
    )
    const connected = ready.reduce((sum, r) => sum + r.connected, 0)
    const failedConnects = ready.reduce((sum, r) => sum + r.failedConnects, 0)
    const loaded = await hostStats()

    let peakRss = loaded.memory.rss
    let sampling = true
    const sampler = (async () => {
      for (let i = 0; sampling && i < 100_000; i++) {
        peakRss = Math.max(peakRss, (await hostStats()).memory.rss)
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    })()
    for (const c of crowd) c.send('go')
    const done = await Promise.all(
      crowd.map((c) => c.next<{ samples: Sample[]; elapsed: number }>('done')),
    )
    sampling = false
    await sampler
    const after = await hostStats()
    for (const c of crowd) c.send('quit')
    await Promise.all(crowd.map((c) => stop(c.process)))
    for (let i = 0; i < 100 && (await hostStats()).connections > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 100))
    const left = await hostStats()

    const samples = done.flatMap((d) => d.samples)
    const elapsed = Math.max(...done.map((d) => d.elapsed))
    const direct = withBaseline ? await baseline(llama.url, guests, requests, tokens) : undefined

    const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`
    const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`
    console.log(
      `\np2p-llm load bench: ${guests} guests (${processes} processes, own libp2p node each, TCP on ` +
        `loopback) × ${requests} streamed requests of ${tokens} tokens; llama-server --parallel ` +
        `${parallel} on the tiny scripted model; host maxConcurrentRequests ${parallel}, ` +
        `maxQueuedRequests ${queue}, maxConnections 128; Node ${process.versions.node}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}\n`,
    )
    const rows: Record<string, Record<string, string | number>> = {
      'p2p (host process)': summarize(samples, elapsed),
    }
    if (direct != null) rows['llama-server directly'] = summarize(direct.samples, direct.elapsed)
    console.table(rows)
    console.table({
      'host, idle (after warm-up)': {
        guests: idle.guests,
        rss: mib(idle.memory.rss),
        heapUsed: mib(idle.memory.heapUsed),
      },
      [`host, ${connected} guests connected, idle`]: {
        guests: loaded.guests,
        rss: mib(loaded.memory.rss),
        heapUsed: mib(loaded.memory.heapUsed),
      },
      'host, after the load': {
        guests: after.guests,
        rss: `${mib(after.memory.rss)} (peak ${mib(peakRss)})`,
        heapUsed: mib(after.memory.heapUsed),
      },
      'host, guests gone': {
        guests: left.guests,
        rss: mib(left.memory.rss),
        heapUsed: mib(left.memory.heapUsed),
      },
    })
    const perConnection = (loaded.memory.rss - idle.memory.rss) / Math.max(1, loaded.guests)
    const heapPerConnection =
      (loaded.memory.heapUsed - idle.memory.heapUsed) / Math.max(1, loaded.guests)
    console.log(
      `Memory per connection on the host: ${kib(perConnection)} RSS, ${kib(heapPerConnection)} heap ` +
        `(${loaded.guests} guests; connects failed: ${failedConnects}). Host counted ` +
        `${after.stats.completedRequests} completed, ${after.stats.failedRequests} failed ` +
        `${JSON.stringify(after.stats.errors)}.`,
    )
  } finally {
    await Promise.all(children.map((c) => stop(c.process).catch(() => {})))
    await llama.stop()
  }
}

const [role, ...args] = process.argv.slice(2)
if (role === 'host')
  await hostRole(args[0] as string, Number(args[1] ?? 4), Number(args[2] ?? 1024))
else if (role === 'guests')
  await guestsRole(args[0] as string, Number(args[1]), Number(args[2]), Number(args[3]))
else await main()
