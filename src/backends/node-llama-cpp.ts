/**
 * @packageDocumentation
 *
 * `nodeLlamaCpp()`: shares a GGUF model that runs inside this process, through
 * [node-llama-cpp](https://node-llama-cpp.withcat.ai) — no llama-server needed.
 *
 * Published on its own subpath so the main entry never loads node-llama-cpp, which is an
 * optional peer dependency (`npm i node-llama-cpp@3`):
 *
 * @example
 * ```ts
 * import { createModelHost } from 'p2p-llm'
 * import { nodeLlamaCpp } from 'p2p-llm/node-llama-cpp'
 *
 * const backend = nodeLlamaCpp({
 *   modelPath: './models/model.gguf',
 *   onLoadProgress: (progress) => console.log(`loading ${Math.round(progress * 100)} %`),
 * })
 * await backend.load() // optional: otherwise the first request loads the model
 * const host = await createModelHost({ backend })
 * // …
 * await host.stop()
 * await backend.close()
 * ```
 *
 * Prompts (`prompt`) run through node-llama-cpp's `LlamaCompletion`; chats (`messages`) through
 * `LlamaChat` with the model's own chat template (node-llama-cpp's "auto" chat wrapper).
 */
import { availableParallelism } from 'node:os'
import { basename } from 'node:path'
import type {
  ChatHistoryItem,
  ChatWrapper,
  LLamaContextualRepeatPenalty,
  Llama,
  LlamaChat,
  LlamaCompletion,
  LlamaContext,
  LlamaContextSequence,
  LlamaGpuType,
  LlamaModel,
  Token,
  TokenBias,
} from 'node-llama-cpp'
import type {
  BackendCallOptions,
  GenerateChunk,
  GenerateOptions,
  GenerateRequest,
  ModelBackend,
  ModelInfo,
} from '../codec/backend.ts'
import { AbortError, BackendUnavailableError, InvalidRequestError } from '../codec/errors.ts'
import type { ChatMessage } from '../codec/schemas.ts'

export interface NodeLlamaCppInit {
  /** Path of the GGUF file. */
  modelPath: string
  /** Model name reported by `info()`. @default the file name */
  name?: string
  /**
   * CPU threads that evaluate the model.
   *
   * @default {@link defaultThreads}`()`: one fewer than the machine's logical CPUs, at most its
   * physical cores, at least 1. More threads than free cores is catastrophic for llama.cpp
   * (its workers spin on barriers): on 2 busy cores, 2 threads were 10× and 4 threads (what
   * node-llama-cpp picks there) 200× slower than 1.
   */
  threads?: number
  /**
   * Context window of each sequence, in tokens: a number, or bounds for node-llama-cpp to fit
   * the memory it finds.
   *
   * @default { max: 8192 } (never more than the model was trained on)
   */
  contextSize?: number | { min?: number; max?: number }
  /** Tokens evaluated per batch (prompt processing). @default node-llama-cpp's: 512 */
  batchSize?: number
  /**
   * Requests generated at once (sequences of one context, evaluated in shared batches). Each
   * costs a context window of memory; requests beyond wait their turn. Match it with the host's
   * `maxConcurrentRequests`.
   *
   * @default 1
   */
  parallel?: number
  /** GPU to use: `'auto'` picks the best one that works, `false` runs on the CPU. @default 'auto' */
  gpu?: 'auto' | LlamaGpuType
  /** Layers to offload to the GPU. @default 'auto' */
  gpuLayers?: 'auto' | 'max' | number
  /** Chat template: node-llama-cpp's `'auto'` (from the model's metadata) or a `ChatWrapper`. */
  chatWrapper?: 'auto' | ChatWrapper
  /** Reports model loading, from 0 to 1 (1 once the model is ready). */
  onLoadProgress?: (progress: number) => void
  /**
   * A `Llama` instance from `getLlama()`, for full control over the binary and GPU. It is
   * shared, so `close()` leaves it alone. @default one from `getLlama({ gpu, build: 'never' })`
   */
  llama?: Llama
}

/** What the backend is doing, for dashboards and tests. */
export interface NodeLlamaCppStats {
  /** Whether the model is loaded and ready. */
  loaded: boolean
  /** Sequences generating right now. */
  busy: number
  /** Requests waiting for a free sequence. */
  waiting: number
  /** Tokens generated since the backend was created. */
  tokensGenerated: number
}

/** The backend returned by {@link nodeLlamaCpp}. */
export interface NodeLlamaCppBackend extends ModelBackend {
  readonly provider: 'node-llama-cpp'
  /** Loads the model now (once; later calls share the same load). Rejects with `BackendUnavailableError`. */
  load(options?: BackendCallOptions): Promise<void>
  info(options?: BackendCallOptions): Promise<ModelInfo>
  health(options?: BackendCallOptions): Promise<void>
  stats(): NodeLlamaCppStats
  /** Stops every generation, then frees the context, the model and (if it made it) the `Llama`. */
  close(): Promise<void>
}

/**
 * The default number of threads: `availableParallelism() - 1` (one CPU stays free for Node's
 * event loop, where libp2p encrypts and frames the replies), at most `physicalCores` (extra
 * hyper-threads do not help matrix maths), at least 1.
 */
export function defaultThreads(physicalCores: number = availableParallelism()): number {
  return Math.max(1, Math.min(physicalCores, availableParallelism() - 1))
}

type NodeLlamaCppModule = typeof import('node-llama-cpp')

interface Slot {
  sequence: LlamaContextSequence
  completion: LlamaCompletion
  chat: LlamaChat
}

interface Loaded {
  lib: NodeLlamaCppModule
  llama: Llama
  ownsLlama: boolean
  model: LlamaModel
  context: LlamaContext
  threads: number
  slots: SlotPool
  chatTemplate: string
  /** Bans every end-of-generation token (`ignore_eos`); made on first use. */
  neverEnd?: TokenBias
}

export function nodeLlamaCpp(init: NodeLlamaCppInit): NodeLlamaCppBackend {
  if (typeof init?.modelPath !== 'string' || init.modelPath === '')
    throw new TypeError('nodeLlamaCpp() needs a modelPath')
  const parallel = init.parallel ?? 1
  if (!Number.isInteger(parallel) || parallel < 1)
    throw new TypeError('nodeLlamaCpp(): parallel must be a positive integer')
  const name = init.name ?? basename(init.modelPath)

  let loading: Promise<Loaded> | undefined
  let loaded: Loaded | undefined
  let closed = false
  let tokensGenerated = 0
  /** Aborts the generations in flight when the backend closes. */
  const closing = new AbortController()
  const running = new Set<Promise<unknown>>()

  function load(): Promise<Loaded> {
    if (closed) return Promise.reject(new BackendUnavailableError('The model backend is closed'))
    loading ??= loadModel(init, parallel).then(
      (result) => {
        loaded = result
        return result
      },
      (err: unknown) => {
        loading = undefined // a later call may try again (file copied in, package installed, …)
        throw err
      },
    )
    return loading
  }

  async function* generate(
    request: GenerateRequest,
    { signal }: GenerateOptions,
  ): AsyncGenerator<GenerateChunk> {
    signal.throwIfAborted()
    const state = await untilAborted(load(), signal)
    const slot = await state.slots.acquire(signal)
    const queue = new ChunkQueue<GenerateChunk>()
    const controller = new AbortController()
    const onAbort = (): void =>
      controller.abort(signal.aborted ? signal.reason : closing.signal.reason)
    signal.addEventListener('abort', onAbort)
    closing.signal.addEventListener('abort', onAbort)
    if (signal.aborted || closing.signal.aborted) onAbort() // while the sequence was handed over
    const task = run(state, slot, request, controller.signal, queue, (count) => {
      tokensGenerated += count
    }).then(
      (final) => queue.end(final),
      (err: unknown) => queue.fail(err),
    )
    running.add(task)
    try {
      yield* queue
    } finally {
      signal.removeEventListener('abort', onAbort)
      closing.signal.removeEventListener('abort', onAbort)
      // The host stopped reading (guest cancelled, error, stop chunk): stop generating, and keep
      // the sequence until node-llama-cpp has really let go of it.
      controller.abort(new AbortError('The generation was cancelled'))
      await task
      running.delete(task)
      state.slots.release(slot)
    }
  }

  return {
    specificationVersion: 'p2p-llm.backend.v1',
    provider: 'node-llama-cpp',
    generate,

    async load(options: BackendCallOptions = {}): Promise<void> {
      await untilAborted(load(), options.signal)
    },

    async info(options: BackendCallOptions = {}): Promise<ModelInfo> {
      const state = await untilAborted(load(), options.signal)
      return {
        model: name,
        contextSize: state.context.contextSize,
        capabilities: ['completion', 'chat', 'stream'],
        provider: 'node-llama-cpp',
        parallel,
        threads: state.threads,
        gpu: state.llama.gpu,
        chatTemplate: state.chatTemplate,
      }
    },

    async health(options: BackendCallOptions = {}): Promise<void> {
      await untilAborted(load(), options.signal)
    },

    stats(): NodeLlamaCppStats {
      return {
        loaded: loaded != null && !closed,
        busy: loaded?.slots.busy ?? 0,
        waiting: loaded?.slots.waiting ?? 0,
        tokensGenerated,
      }
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      closing.abort(new BackendUnavailableError('The model backend is closing'))
      const state = await loading?.catch(() => undefined)
      if (state == null) return
      state.slots.close(new BackendUnavailableError('The model backend is closing'))
      await Promise.all(running)
      await state.context.dispose()
      await state.model.dispose()
      if (state.ownsLlama) await state.llama.dispose()
    },
  }
}

async function loadModel(init: NodeLlamaCppInit, parallel: number): Promise<Loaded> {
  let lib: NodeLlamaCppModule
  try {
    lib = await import('node-llama-cpp')
  } catch (err) {
    // Only the package itself missing means "not installed"; a broken install says what broke.
    const missing =
      (err as NodeJS.ErrnoException)?.code === 'ERR_MODULE_NOT_FOUND' &&
      /'node-llama-cpp'/.test((err as Error).message)
    throw new BackendUnavailableError(
      missing
        ? 'nodeLlamaCpp() needs the optional package node-llama-cpp: npm i node-llama-cpp@3'
        : `node-llama-cpp failed to load: ${(err as Error)?.message ?? String(err)}`,
      { cause: err },
    )
  }
  let llama = init.llama
  const ownsLlama = llama == null
  try {
    // build: 'never': a missing or broken prebuilt binary is an error here, not a source build
    // of many minutes (npm 11 skips node-llama-cpp's postinstall, which would otherwise check).
    llama ??= await lib.getLlama({ gpu: init.gpu ?? 'auto', build: 'never', maxThreads: 0 })
  } catch (err) {
    throw new BackendUnavailableError(
      `node-llama-cpp has no working llama.cpp binary here: ${(err as Error)?.message}`,
      { cause: err },
    )
  }
  let model: LlamaModel | undefined
  try {
    let reported = 0
    const report = (progress: number): void => {
      reported = progress
      try {
        init.onLoadProgress?.(progress)
      } catch {} // a failing progress callback must not fail the load
    }
    model = await llama.loadModel({
      modelPath: init.modelPath,
      ...(init.gpuLayers !== undefined ? { gpuLayers: init.gpuLayers } : {}),
      onLoadProgress: report,
    })
    const threads = init.threads ?? defaultThreads(llama.cpuMathCores)
    const context = await model.createContext({
      contextSize: init.contextSize ?? { max: 8192 },
      sequences: parallel,
      threads,
      ...(init.batchSize !== undefined ? { batchSize: init.batchSize } : {}),
    })
    const slots: Slot[] = []
    for (let i = 0; i < parallel; i++) {
      const sequence = context.getSequence()
      slots.push({
        sequence,
        completion: new lib.LlamaCompletion({ contextSequence: sequence }),
        chat: new lib.LlamaChat({ contextSequence: sequence, chatWrapper: init.chatWrapper }),
      })
    }
    if (reported < 1) report(1)
    return {
      lib,
      llama,
      ownsLlama,
      model,
      context,
      threads,
      slots: new SlotPool(slots),
      chatTemplate: (slots[0] as Slot).chat.chatWrapper.wrapperName,
    }
  } catch (err) {
    await model?.dispose().catch(() => {})
    if (ownsLlama) await llama.dispose().catch(() => {})
    throw new BackendUnavailableError(
      `Could not load ${init.modelPath}: ${(err as Error)?.message ?? String(err)}`,
      { cause: err },
    )
  }
}

/** What a generation came to, for the final chunk. */
interface Outcome {
  text: string
  stopReason: string
  stoppingWord?: string
  predicted: number
  evaluated: number
  started: number
  firstToken: number | undefined
}

async function run(
  state: Loaded,
  slot: Slot,
  request: GenerateRequest,
  signal: AbortSignal,
  queue: ChunkQueue<GenerateChunk>,
  onTokens: (count: number) => void,
): Promise<GenerateChunk> {
  const { model } = state
  const streaming = request.stream === true
  const { stop, ...options } = sampling(state, slot, request)
  const meter = slot.sequence.tokenMeter
  const inputBefore = meter.usedInputTokens
  const outcome: Outcome = {
    text: '',
    stopReason: '',
    predicted: 0,
    evaluated: 0,
    started: performance.now(),
    firstToken: undefined,
  }
  const emit = (text: string): void => {
    if (text === '') return
    outcome.firstToken ??= performance.now()
    if (streaming) queue.push({ content: text })
    else outcome.text += text
  }

  // Stop strings are matched here, on the text the guest gets: node-llama-cpp's own matcher
  // sees each token detokenized alone, which drops SentencePiece word-start spaces, so " models"
  // or "er to" would never match. Text that may be the start of a stop string waits.
  const stopper = new AbortController()
  let pending = ''
  const onText = (text: string): void => {
    if (stopper.signal.aborted) return
    if (stop.length === 0) {
      emit(text)
      return
    }
    const full = pending + text
    const hit = findStop(full, stop)
    if (hit != null) {
      pending = ''
      emit(full.slice(0, hit.index))
      outcome.stoppingWord = hit.word
      stopper.abort()
      return
    }
    const keep = partialStopLength(full, stop)
    pending = full.slice(full.length - keep)
    emit(full.slice(0, full.length - keep))
  }

  // node-llama-cpp detokenizes a reply on its own, so its first token loses the space that
  // SentencePiece marks word starts with (" Peer" becomes "Peer"). A completion continues its
  // prompt (and a chat may continue a trailing assistant message): detokenize every piece after
  // the text it continues, as llama-server does.
  const continued =
    request.messages != null ? trailingAssistantText(request.messages) : (request.prompt ?? '')
  let recent: Token[] =
    continued === '' ? [] : model.tokenize(continued.slice(-64), false, 'trimLeadingSpace')
  const common = {
    ...options,
    signal: AbortSignal.any([signal, stopper.signal]),
    // Aborting returns what was generated; an abort from the caller is rethrown below.
    stopOnAbortSignal: true,
    onToken: (generated: Token[]): void => {
      if (stopper.signal.aborted) return
      outcome.predicted += generated.length
      onTokens(generated.length)
      onText(model.detokenize(generated, false, recent))
      recent = [...recent, ...generated].slice(-8)
    },
  }
  const result =
    request.messages != null
      ? await slot.chat.generateResponse(chatHistory(request.messages), common)
      : await slot.completion.generateCompletionWithMeta(request.prompt ?? '', common)
  signal.throwIfAborted()
  if (stopper.signal.aborted) {
    outcome.stopReason = 'stopWord'
  } else {
    emit(pending)
    outcome.stopReason = result.metadata.stopReason
  }
  outcome.evaluated = meter.usedInputTokens - inputBefore
  return finalChunk(outcome)
}

/** The earliest stop string in `text`. */
function findStop(text: string, stop: string[]): { index: number; word: string } | undefined {
  let best: { index: number; word: string } | undefined
  for (const word of stop) {
    const index = text.indexOf(word)
    if (index >= 0 && (best == null || index < best.index)) best = { index, word }
  }
  return best
}

/** Length of the longest end of `text` that begins some stop string. */
function partialStopLength(text: string, stop: string[]): number {
  const longest = Math.max(...stop.map((word) => word.length)) - 1
  for (let length = Math.min(longest, text.length); length > 0; length--) {
    const end = text.slice(text.length - length)
    if (stop.some((word) => word.startsWith(end))) return length
  }
  return 0
}

function finalChunk(outcome: Outcome): GenerateChunk {
  const ended = performance.now()
  const first = outcome.firstToken ?? ended
  const predictedMs = ended - first
  return {
    content: outcome.text,
    stop: true,
    finish_reason: outcome.stopReason === 'maxTokens' ? 'length' : 'stop',
    stop_type: outcome.stopReason,
    ...(outcome.stoppingWord != null ? { stopping_word: outcome.stoppingWord } : {}),
    tokens_predicted: outcome.predicted,
    tokens_evaluated: outcome.evaluated,
    timings: {
      prompt_n: outcome.evaluated,
      prompt_ms: round(first - outcome.started),
      predicted_n: outcome.predicted,
      predicted_ms: round(predictedMs),
      predicted_per_second:
        predictedMs > 0 && outcome.predicted > 1
          ? round(((outcome.predicted - 1) * 1000) / predictedMs)
          : undefined,
    },
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000
}

/** Maps wire roles onto node-llama-cpp's history; a trailing assistant message is continued. */
function chatHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map(({ role, content }) => {
    switch (role) {
      case 'system':
      case 'developer':
        return { type: 'system', text: content }
      case 'user':
        return { type: 'user', text: content }
      case 'assistant':
        return { type: 'model', response: [content] }
      default:
        throw new InvalidRequestError(
          `Chat role "${role}" is not supported (use system, user or assistant)`,
        )
    }
  })
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] })
  return history
}

/** The text a chat's trailing assistant message already holds (the reply continues it). */
function trailingAssistantText(messages: ChatMessage[]): string {
  const last = messages.at(-1)
  return last?.role === 'assistant' ? last.content : ''
}

/** Options both LlamaCompletion and LlamaChat take. */
interface SamplingOptions {
  maxTokens: number
  temperature?: number
  topP?: number
  topK?: number
  minP?: number
  seed?: number
  repeatPenalty?: false | LLamaContextualRepeatPenalty
  tokenBias?: TokenBias
  /** Stop strings, matched by the backend itself (see `run`). */
  stop: string[]
}

/**
 * The request's sampling settings. `parameters` may use llama-server's names (so one request
 * suits either backend) or node-llama-cpp's: `seed`, `top_k`/`topK`, `min_p`/`minP`,
 * `repeat_penalty`, `repeat_last_n`, `presence_penalty`, `frequency_penalty` (or a
 * `repeatPenalty` object, or `false`), `stop` (strings, as llama-server: the reply ends before
 * the first one and leaves it out), `ignore_eos`,
 * `n_predict` (when `max_tokens` is absent). Other fields are ignored.
 */
function sampling(state: Loaded, slot: Slot, request: GenerateRequest): SamplingOptions {
  const p = request.parameters ?? {}
  const maxTokens = request.max_tokens ?? positive(p, 'n_predict') ?? slot.sequence.contextSize // no endless replies
  const options: SamplingOptions = { maxTokens, stop: [] }
  if (request.temperature !== undefined) options.temperature = request.temperature
  if (request.top_p !== undefined) options.topP = request.top_p
  const topK = number(p, 'top_k') ?? number(p, 'topK')
  if (topK !== undefined) options.topK = topK
  const minP = number(p, 'min_p') ?? number(p, 'minP')
  if (minP !== undefined) options.minP = minP
  const seed = number(p, 'seed')
  if (seed !== undefined) options.seed = seed

  const penalty = repeatPenalty(p)
  if (penalty !== undefined) options.repeatPenalty = penalty

  const stop = p.stop
  if (stop !== undefined) {
    const triggers = typeof stop === 'string' ? [stop] : stop
    if (!Array.isArray(triggers) || !triggers.every((s) => typeof s === 'string' && s !== ''))
      throw new InvalidRequestError('parameters.stop must be a string or an array of strings')
    options.stop = triggers
  }

  const ignoreEos = p.ignore_eos ?? p.ignoreEos
  if (ignoreEos !== undefined && typeof ignoreEos !== 'boolean')
    throw new InvalidRequestError('parameters.ignore_eos must be a boolean')
  if (ignoreEos === true) options.tokenBias = neverEnd(state)
  return options
}

function repeatPenalty(
  p: Record<string, unknown>,
): false | LLamaContextualRepeatPenalty | undefined {
  if (p.repeatPenalty === false || p.repeat_penalty === false) return false
  if (p.repeatPenalty !== undefined) {
    if (typeof p.repeatPenalty !== 'object' || p.repeatPenalty === null)
      throw new InvalidRequestError('parameters.repeatPenalty must be an object or false')
    const o = p.repeatPenalty as Record<string, unknown>
    return definedOnly({
      penalty: number(o, 'penalty'),
      lastTokens: number(o, 'lastTokens'),
      presencePenalty: number(o, 'presencePenalty'),
      frequencyPenalty: number(o, 'frequencyPenalty'),
      penalizeNewLine: typeof o.penalizeNewLine === 'boolean' ? o.penalizeNewLine : undefined,
    })
  }
  const penalty = number(p, 'repeat_penalty')
  const lastTokens = number(p, 'repeat_last_n')
  const presencePenalty = number(p, 'presence_penalty')
  const frequencyPenalty = number(p, 'frequency_penalty')
  if (
    penalty === undefined &&
    lastTokens === undefined &&
    presencePenalty === undefined &&
    frequencyPenalty === undefined
  )
    return undefined
  // llama.cpp's "off" values: penalty 1, no presence or frequency penalty, or a window of 0.
  if (lastTokens === 0) return false
  if ((penalty ?? 1) === 1 && !presencePenalty && !frequencyPenalty) return false
  return definedOnly({ penalty, lastTokens, presencePenalty, frequencyPenalty })
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

function number(p: Record<string, unknown>, key: string): number | undefined {
  const value = p[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new InvalidRequestError(`parameters.${key} must be a finite number`)
  return value
}

function positive(p: Record<string, unknown>, key: string): number | undefined {
  const value = number(p, key)
  return value !== undefined && value > 0 ? Math.floor(value) : undefined
}

/**
 * A token bias that bans every end-of-generation token, like llama.cpp's `ignore_eos`.
 * node-llama-cpp's `TokenBias.set()` refuses EOG tokens on purpose, so the bias goes into its
 * (internal, but read by node-llama-cpp's own sampler set-up) `_biases` map.
 */
function neverEnd(state: Loaded): TokenBias {
  if (state.neverEnd != null) return state.neverEnd
  const bias = new state.lib.TokenBias(state.model.tokenizer)
  const biases = (bias as unknown as { _biases?: unknown })._biases
  if (!(biases instanceof Map))
    throw new InvalidRequestError('parameters.ignore_eos is not supported by this node-llama-cpp')
  for (const token of state.model.iterateAllTokens())
    if (state.model.isEogToken(token)) biases.set(token, Number.NEGATIVE_INFINITY)
  state.neverEnd = bias
  return bias
}

/** The context's sequences, lent to one request at a time; requests beyond wait in order. */
class SlotPool {
  private readonly free: Slot[]
  private readonly waiters: Array<{
    resolve: (slot: Slot) => void
    reject: (err: unknown) => void
  }> = []
  private readonly total: number
  private closedWith: Error | undefined

  constructor(slots: Slot[]) {
    this.free = [...slots]
    this.total = slots.length
  }

  get busy(): number {
    return this.total - this.free.length
  }

  get waiting(): number {
    return this.waiters.length
  }

  acquire(signal: AbortSignal): Promise<Slot> {
    if (this.closedWith != null) return Promise.reject(this.closedWith)
    signal.throwIfAborted()
    const slot = this.free.pop()
    if (slot != null) return Promise.resolve(slot)
    return new Promise<Slot>((resolve, reject) => {
      const waiter = {
        resolve: (s: Slot) => {
          signal.removeEventListener('abort', onAbort)
          resolve(s)
        },
        reject: (err: unknown) => {
          signal.removeEventListener('abort', onAbort)
          reject(err)
        },
      }
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter)
        if (index >= 0) this.waiters.splice(index, 1)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(waiter)
    })
  }

  release(slot: Slot): void {
    const next = this.waiters.shift()
    if (next != null) next.resolve(slot)
    else this.free.push(slot)
  }

  close(reason: Error): void {
    this.closedWith = reason
    for (const waiter of this.waiters.splice(0)) waiter.reject(reason)
  }
}

/** A small push queue read as an async iterable: pieces, then the end or an error. */
class ChunkQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = []
  private finished = false
  private failed = false
  private error: unknown
  private wake: (() => void) | undefined

  push(item: T): void {
    this.items.push(item)
    this.notify()
  }

  end(last?: T): void {
    if (last !== undefined) this.items.push(last)
    this.finished = true
    this.notify()
  }

  fail(err: unknown): void {
    this.failed = true
    this.error = err
    this.finished = true
    this.notify()
  }

  private notify(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    let next = 0
    for (;;) {
      if (next < this.items.length) {
        const item = this.items[next] as T
        this.items[next++] = undefined as T // let delivered pieces go
        yield item
        continue
      }
      if (this.failed) throw this.error
      if (this.finished) return
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
    }
  }
}

/** Waits for `promise` unless `signal` aborts first (the work itself carries on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal == null) return promise
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}
