/**
 * Fuzzing the wire: fast-check generates what a stranger might send on a `/llama/1.0.0`
 * stream — random bytes, broken varints (endless continuation bytes, overlong encodings),
 * truncated frames, oversize lengths, deeply nested and huge JSON, wrong types for every field,
 * unicode edge cases (lone surrogates, NUL, RTL marks, emoji, invalid UTF-8) — and throws it at
 * a live host over real libp2p connections (TCP and WebSockets, yamux and mplex), many streams
 * at once, while a well-behaved SDK guest keeps asking alongside.
 *
 * Every stream must end in exactly what docs/protocol.md promises — checked against an oracle
 * written from the spec (below), not from the host's code: the right answer for a valid
 * request, otherwise one error frame with a contract code (INVALID_REQUEST, FRAME_TOO_LARGE,
 * TIMEOUT) or a clean reset. No stream may hang, the well-behaved guest never sees an error,
 * and the host holds no streams, requests or growing memory afterwards.
 *
 * Counts (env): FUZZ_RUNS frames against an echo backend (default 3000; `npm run test:stress`
 * runs 100 000), FUZZ_LLAMA_RUNS against llama-server (default 120), FUZZ_SEED to replay.
 */
import v8 from 'node:v8'
import vm from 'node:vm'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import fc from 'fast-check'
import * as varint from 'uint8-varint'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LlamaServer } from '../../scripts/run-llama-server.ts'
import {
  connectToModel,
  createModelHost,
  llamaCpp,
  type ModelBackend,
  type ModelHost,
  type RemoteModel,
} from '../../src/index.ts'
import { SCRIPTED_COMPLETION, startScriptedLlamaServer } from '../fixtures/host.ts'
import { createRawClient, type RawClient } from '../fixtures/raw-client.ts'

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 3000)
const FUZZ_LLAMA_RUNS = Number(process.env.FUZZ_LLAMA_RUNS ?? 120)
const FUZZ_SEED = process.env.FUZZ_SEED != null ? Number(process.env.FUZZ_SEED) : undefined
/** The hosts' frame limit: small, so frames at and over it are cheap to generate. */
const MAX_FRAME = 64 * 1024
/** Long enough that a loaded machine never times out a guest that did send its request. */
const READ_TIMEOUT = 3000
/** Streams fuzzed at once (spread over the clients). */
const BATCH = 16
/** Streams left open (waiting for TIMEOUT) at once, per slow client. */
const MAX_HELD_OPEN = 24

// ---------------------------------------------------------------------------------------------
// The oracle: what a host must answer to any bytes, from docs/protocol.md alone.
// ---------------------------------------------------------------------------------------------

type ValidRequest = { kind: 'info' } | { kind: 'completion'; text: string; stream: boolean }

type Expectation =
  /** Nothing was sent and the stream was closed: the host closes too, without a frame. */
  | { type: 'silent' }
  /** One error frame with one of these codes (or a clean reset). */
  | { type: 'error'; codes: string[]; reason: string; field?: string }
  /** A valid request: answered in full, never reset. */
  | { type: 'valid'; request: ValidRequest }

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const encodeUtf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const MAX_PREFIX = varint.encodingLength(MAX_FRAME)

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/** A frame as the spec defines it: unsigned varint length, then the body. */
const frame = (body: Uint8Array): Uint8Array => concat(varint.encode(body.byteLength), body)

/** LEB128 of `value` stretched to `size` bytes (an overlong but decodable encoding). */
function overlong(value: number, size: number): Uint8Array {
  const plain = varint.encode(value)
  const out = new Uint8Array(Math.max(size, plain.byteLength))
  out.set(plain, 0)
  for (let i = 0; i < out.length - 1; i++) out[i] = (out[i] as number) | 0x80
  return out
}

function expectFor(bytes: Uint8Array, closed: boolean): Expectation {
  const short = (where: string): Expectation =>
    closed
      ? { type: 'error', codes: ['INVALID_REQUEST'], reason: `stream ended ${where}` }
      : { type: 'error', codes: ['TIMEOUT'], reason: `no whole frame (${where})` }
  if (bytes.length === 0)
    return closed ? { type: 'silent' } : { type: 'error', codes: ['TIMEOUT'], reason: 'no bytes' }
  let length = 0
  let size = 0
  for (; size < bytes.length; ) {
    // A prefix longer than the limit's own encoding is refused at its first extra byte.
    if (size + 1 > MAX_PREFIX)
      return { type: 'error', codes: ['FRAME_TOO_LARGE'], reason: 'length prefix too long' }
    const byte = bytes[size] as number
    length += (byte & 0x7f) * 2 ** (7 * size)
    size++
    if ((byte & 0x80) === 0) break
    if (size === bytes.length) return short('in the length prefix')
  }
  if (length > MAX_FRAME)
    return { type: 'error', codes: ['FRAME_TOO_LARGE'], reason: 'length over maxFrameSize' }
  if (bytes.length - size < length) return short('in the body')
  let text: string
  try {
    text = strictUtf8.decode(bytes.subarray(size, size + length))
  } catch {
    return { type: 'error', codes: ['INVALID_REQUEST'], reason: 'not UTF-8' }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { type: 'error', codes: ['INVALID_REQUEST'], reason: 'not JSON' }
  }
  const verdict = validateRequest(value)
  return verdict.ok
    ? { type: 'valid', request: verdict.request }
    : { type: 'error', codes: ['INVALID_REQUEST'], reason: verdict.reason, field: verdict.field }
}

type Verdict = { ok: true; request: ValidRequest } | { ok: false; reason: string; field?: string }

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null
const isFiniteNumber = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value)

/** The request table of docs/protocol.md. */
function validateRequest(value: unknown): Verdict {
  if (!isObject(value) || Array.isArray(value)) return { ok: false, reason: 'not an object' }
  const bad = (field: string): Verdict => ({ ok: false, reason: `bad ${field}`, field })
  if (value.type === 'info') {
    if (value.apiKey !== undefined && typeof value.apiKey !== 'string') return bad('apiKey')
    return { ok: true, request: { kind: 'info' } }
  }
  if (value.type !== undefined && value.type !== 'completion') return bad('type')
  if (value.prompt !== undefined && typeof value.prompt !== 'string') return bad('prompt')
  const messages = value.messages
  if (messages !== undefined) {
    if (!Array.isArray(messages) || messages.length === 0) return bad('messages')
    for (const message of messages) {
      if (!isObject(message)) return bad('messages')
      if (typeof message.role !== 'string' || message.role.length === 0) return bad('role')
      if (typeof message.content !== 'string') return bad('content')
    }
  }
  const maxTokens = value.max_tokens
  if (
    maxTokens !== undefined &&
    !(typeof maxTokens === 'number' && Number.isInteger(maxTokens) && maxTokens >= 1)
  )
    return bad('max_tokens')
  const temperature = value.temperature
  if (temperature !== undefined && !(isFiniteNumber(temperature) && temperature >= 0))
    return bad('temperature')
  const topP = value.top_p
  if (topP !== undefined && !(isFiniteNumber(topP) && topP >= 0 && topP <= 1)) return bad('top_p')
  if (value.stream !== undefined && typeof value.stream !== 'boolean') return bad('stream')
  if (value.apiKey !== undefined && typeof value.apiKey !== 'string') return bad('apiKey')
  // The host takes an array for an object here (valibot's record accepts arrays); harmless,
  // see docs/reliability.md ("What the drills found").
  if (value.parameters !== undefined && !isObject(value.parameters)) return bad('parameters')
  if ((value.prompt === undefined) === (messages === undefined))
    return { ok: false, reason: 'needs exactly one of prompt and messages' }
  const text =
    typeof value.prompt === 'string'
      ? value.prompt
      : ((messages as Array<{ content: string }>).at(-1)?.content ?? '')
  return { ok: true, request: { kind: 'completion', text, stream: value.stream === true } }
}

/** Bytes of the one success frame a host sends for a non-streamed reply `text`. */
const wholeReplyBytes = (text: string): number =>
  encodeUtf8(JSON.stringify({ success: true, data: { content: text, stop: true } })).byteLength

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

interface FuzzCase {
  category: string
  bytes: Uint8Array
  /** Half-close after writing; otherwise the stream is left open (the host must time it out). */
  closed: boolean
}

const json = (value: unknown): Uint8Array => encodeUtf8(JSON.stringify(value))
/** Mostly closed; now and then left open, for the host's read timeout. */
const closedArb = fc.nat(99).map((n) => n >= 4)

const tinyText = fc.string({ maxLength: 24 })
const validRequestValue = fc.oneof(
  fc.record(
    {
      prompt: tinyText,
      stream: fc.boolean(),
      max_tokens: fc.integer({ min: 1, max: 64 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      top_p: fc.double({ min: 0, max: 1, noNaN: true }),
      apiKey: tinyText,
      parameters: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
        maxKeys: 3,
      }),
      type: fc.constant('completion'),
      extra: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: ['prompt'] },
  ),
  fc.record(
    {
      messages: fc.array(
        fc.record({ role: fc.string({ minLength: 1, maxLength: 10 }), content: tinyText }),
        { minLength: 1, maxLength: 4 },
      ),
      stream: fc.boolean(),
    },
    { requiredKeys: ['messages'] },
  ),
  fc.record({ type: fc.constant('info'), apiKey: tinyText }, { requiredKeys: ['type'] }),
)
const validFrame = validRequestValue.map((value) => frame(json(value)))

const validCases = fc
  .tuple(validRequestValue, closedArb)
  .map(([value, closed]): FuzzCase => ({ category: 'valid', bytes: frame(json(value)), closed }))

const randomBytes = fc
  .tuple(fc.uint8Array({ maxLength: 96 }), closedArb)
  .map(([bytes, closed]): FuzzCase => ({ category: 'random bytes', bytes, closed }))

const brokenVarints = fc.oneof(
  fc
    .tuple(
      fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 12 }),
      fc.uint8Array({ maxLength: 16 }),
      closedArb,
    )
    .map(
      ([run, tail, closed]): FuzzCase => ({
        category: 'varint: continuation bytes',
        bytes: concat(Uint8Array.from(run), tail),
        closed,
      }),
    ),
  fc
    .tuple(validRequestValue, fc.integer({ min: 1, max: 6 }), closedArb)
    .map(([value, size, closed]): FuzzCase => {
      const body = json(value)
      return {
        category: 'varint: overlong',
        bytes: concat(overlong(body.byteLength, size), body),
        closed,
      }
    }),
  fc.tuple(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 8 })).map(
    ([size, tail]): FuzzCase => ({
      category: 'varint: zero length',
      bytes: concat(overlong(0, size), tail),
      closed: true,
    }),
  ),
)

const truncatedFrames = fc
  .tuple(validFrame, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), closedArb)
  .map(
    ([bytes, cut, closed]): FuzzCase => ({
      category: 'truncated frame',
      bytes: bytes.subarray(
        0,
        Math.max(1, Math.min(bytes.length - 1, Math.floor(cut * bytes.length))),
      ),
      closed,
    }),
  )

const oversizeLengths = fc
  .tuple(
    fc.oneof(
      fc.integer({ min: MAX_FRAME + 1, max: 2 ** 21 - 1 }),
      fc.integer({ min: 2 ** 21, max: Number.MAX_SAFE_INTEGER }),
      fc.constant(MAX_FRAME + 1),
    ),
    fc.uint8Array({ maxLength: 64 }),
    fc.nat(9),
  )
  .map(([length, tail, sendBody]): FuzzCase => {
    // Now and then the whole announced body follows (the host must not read it).
    const body =
      sendBody === 0 && length <= MAX_FRAME + 1024 ? new Uint8Array(length).fill(0x7b) : tail
    return { category: 'oversize length', bytes: concat(varint.encode(length), body), closed: true }
  })

const deepJson = fc
  .tuple(
    fc.integer({ min: 1, max: 12_000 }),
    fc.constantFrom('array', 'object', 'in parameters', 'in prompt', 'in messages', 'unclosed'),
    fc.boolean(),
  )
  .map(([depth, shape, stream]): FuzzCase => {
    const nest = (d: number): string => `${'['.repeat(d)}${']'.repeat(d)}`
    const text = {
      array: () => nest(depth),
      // {"a":{"a":…1…}}: 6 bytes a level, kept under the frame limit.
      object: () => {
        const d = Math.min(depth, 10_000)
        return `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`
      },
      'in parameters': () =>
        `{"prompt":"deep","stream":${stream},"parameters":{"x":${nest(depth)}}}`,
      'in prompt': () => `{"prompt":${nest(depth)}}`,
      'in messages': () => `{"messages":[{"role":"user","content":${nest(depth)}}]}`,
      unclosed: () => '['.repeat(depth),
    }[shape]()
    return { category: `deep JSON (${shape})`, bytes: frame(encodeUtf8(text)), closed: true }
  })

/** Strings whose frame lands within ±40 bytes of the limit, in 1- to 6-byte characters. */
const hugeStrings = fc
  .tuple(
    fc.constantFrom('a', 'é', '€', '😀', '\u0000', '\ud800', '"'),
    fc.integer({ min: -40, max: 40 }),
    fc.boolean(),
    fc.constantFrom('prompt', 'messages', 'apiKey', 'parameters', 'type'),
  )
  .map(([char, delta, stream, where]): FuzzCase => {
    const build = (pad: string): unknown =>
      ({
        prompt: { prompt: pad, stream },
        messages: { messages: [{ role: 'user', content: pad }], stream },
        apiKey: { prompt: 'x', apiKey: pad, stream },
        parameters: { prompt: 'x', parameters: { pad }, stream },
        // Invalid, and the host quotes the value in its error message.
        type: { prompt: 'x', type: pad },
      })[where]
    const target = MAX_FRAME + delta
    const overhead = json(build('')).byteLength
    const perChar = json(char).byteLength - 2
    const count = Math.max(0, Math.floor((target - overhead) / perChar))
    const rest = Math.max(0, target - overhead - count * perChar)
    return {
      category: `huge string (${where})`,
      bytes: frame(json(build(char.repeat(count) + 'a'.repeat(rest)))),
      closed: true,
    }
  })

const FIELDS = [
  'type',
  'prompt',
  'messages',
  'role',
  'content',
  'max_tokens',
  'temperature',
  'top_p',
  'stream',
  'apiKey',
  'parameters',
] as const
const RANGE_EDGES: Record<string, unknown[]> = {
  max_tokens: [0, -1, 1.5, Number.POSITIVE_INFINITY, -0, 2 ** 53 + 0.5],
  temperature: [-1e-9, -1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
  top_p: [1.0000001, -0.0000001, 2, Number.POSITIVE_INFINITY],
  messages: [[], [[]], [null], ['user']],
  role: [''],
  type: ['Completion', 'chat', 'info ', ''],
}
const anyValue = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
)
const wrongTypes = fc
  .constantFrom(...FIELDS)
  .chain((field) =>
    fc.oneof(anyValue, fc.constantFrom(...(RANGE_EDGES[field] ?? [null]))).map((value) => {
      // ±Infinity is written as 1e400: JSON.stringify would turn it into null.
      const raw = value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY
      const wire = raw ? '__INFINITY__' : value
      const request: Record<string, unknown> =
        field === 'messages' || field === 'role' || field === 'content'
          ? { messages: [{ role: 'user', content: 'hi' }] }
          : { prompt: 'hi' }
      if (field === 'role' || field === 'content')
        (request.messages as Array<Record<string, unknown>>)[0] = {
          role: 'user',
          content: 'hi',
          [field]: wire,
        }
      else request[field] = wire
      let text = JSON.stringify(request)
      if (raw) text = text.replace('"__INFINITY__"', (value as number) > 0 ? '1e400' : '-1e400')
      return { field, text }
    }),
  )
  .filter(({ text }) => !validateRequest(JSON.parse(text)).ok)
  .map(
    ({ field, text }): FuzzCase => ({
      category: `wrong type: ${field}`,
      bytes: frame(encodeUtf8(text)),
      closed: true,
    }),
  )

const loneSurrogate = fc
  .integer({ min: 0xd800, max: 0xdfff })
  .map((code) => String.fromCharCode(code))
const specialChar = fc.oneof(
  fc.constantFrom(
    '\u0000',
    '\u0001',
    '\u001f',
    '\u007f',
    '\u202e', // right-to-left override
    '\u200f',
    '\u2066',
    '\ufeff', // byte-order mark
    '\u0301', // combining acute
    '\u2028',
    '\u2029',
    '\ufffe',
    '\uffff',
    '😀',
    '👩‍👩‍👧',
    '🏳️‍🌈',
    '𝕏',
    'ﷺ',
    '"',
    '\\',
    '\n',
    'a',
  ),
  loneSurrogate,
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
)
const unicodeText = fc.string({ unit: specialChar, maxLength: 48 })
const INVALID_UTF8 = [
  [0xc0, 0xaf], // overlong '/'
  [0xed, 0xa0, 0x80], // a UTF-16 surrogate, UTF-8 encoded
  [0xff],
  [0xfe],
  [0x80], // continuation byte alone
  [0xe2, 0x82], // truncated 3-byte sequence
  [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
  [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
]
const unicodeCases = fc.oneof(
  fc.tuple(unicodeText, fc.boolean(), fc.boolean()).map(
    ([text, stream, chat]): FuzzCase => ({
      category: 'unicode: escaped',
      bytes: frame(
        json(
          chat
            ? { messages: [{ role: text || 'u', content: text }], stream }
            : { prompt: text, stream },
        ),
      ),
      closed: true,
    }),
  ),
  // Written as raw UTF-8 inside the JSON string: control characters make it invalid JSON,
  // lone surrogates become U+FFFD in TextEncoder's output.
  unicodeText.map(
    (text): FuzzCase => ({
      category: 'unicode: raw in JSON',
      bytes: frame(encodeUtf8(`{"prompt":"${text.replaceAll('"', '').replaceAll('\\', '')}"}`)),
      closed: true,
    }),
  ),
  fc
    .tuple(
      validRequestValue,
      fc.constantFrom(...INVALID_UTF8),
      fc.double({ min: 0, max: 1, noNaN: true }),
    )
    .map(([value, bad, at]): FuzzCase => {
      const body = json(value)
      const cut = Math.floor(at * body.length)
      return {
        category: 'unicode: invalid UTF-8',
        bytes: frame(concat(body.subarray(0, cut), Uint8Array.from(bad), body.subarray(cut))),
        closed: true,
      }
    }),
  validRequestValue.map(
    (value): FuzzCase => ({
      category: 'unicode: byte-order mark',
      bytes: frame(concat(Uint8Array.from([0xef, 0xbb, 0xbf]), json(value))),
      closed: true,
    }),
  ),
)

const PROTOCOL_KEYS = [
  'prompt',
  'messages',
  'max_tokens',
  'temperature',
  'top_p',
  'stream',
  'apiKey',
  'parameters',
  'type',
  '__proto__',
  'constructor',
]
const randomJson = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(
    fc.oneof(fc.constantFrom(...PROTOCOL_KEYS), fc.string({ maxLength: 6 })),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), tinyText, fc.integer({ min: 1, max: 99 })),
    { maxKeys: 6 },
  ),
)
const randomJsonCases = randomJson.map(
  (value): FuzzCase => ({
    category: 'random JSON',
    // JSON.stringify drops a "__proto__" key set through the literal; write such keys raw.
    bytes: frame(encodeUtf8(JSON.stringify(value) ?? 'null')),
    closed: true,
  }),
)

const silentCases = fc.constant<FuzzCase>({
  category: 'empty stream',
  bytes: new Uint8Array(0),
  closed: true,
})

const fuzzCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  { arbitrary: validCases, weight: 10 },
  { arbitrary: randomBytes, weight: 10 },
  { arbitrary: brokenVarints, weight: 8 },
  { arbitrary: truncatedFrames, weight: 8 },
  { arbitrary: oversizeLengths, weight: 5 },
  { arbitrary: deepJson, weight: 4 },
  { arbitrary: hugeStrings, weight: 3 },
  { arbitrary: wrongTypes, weight: 14 },
  { arbitrary: unicodeCases, weight: 10 },
  { arbitrary: randomJsonCases, weight: 8 },
  { arbitrary: silentCases, weight: 1 },
)

// ---------------------------------------------------------------------------------------------
// Running one case on a stream, and judging the outcome.
// ---------------------------------------------------------------------------------------------

interface Outcome {
  frames: Array<Record<string, unknown>>
  reset: boolean
  hang: boolean
  /** Anything unexpected on the client side (a bug of the harness or of libp2p). */
  failure?: string
}

async function drained(stream: Stream): Promise<void> {
  if (!stream.writableNeedsDrain) return
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      stream.removeEventListener('close', onClose)
      resolve()
    }
    const onClose = (): void => {
      stream.removeEventListener('drain', onDrain)
      reject(new Error('stream closed while writing'))
    }
    stream.addEventListener('drain', onDrain, { once: true })
    stream.addEventListener('close', onClose, { once: true })
  })
}

async function runCase(client: RawClient, fuzz: FuzzCase): Promise<Outcome> {
  let stream: Stream
  try {
    stream = await client.openStream()
  } catch (err) {
    return { frames: [], reset: false, hang: false, failure: `open: ${(err as Error).name}` }
  }
  // Listening before writing: nothing the host sends early is missed.
  const lp = lpStream(stream, { maxDataLength: 16 * MAX_FRAME })
  const outcome: Outcome = { frames: [], reset: false, hang: false }
  try {
    for (let offset = 0; offset < fuzz.bytes.length; offset += 16 * 1024) {
      stream.send(fuzz.bytes.subarray(offset, offset + 16 * 1024))
      await drained(stream)
    }
    if (fuzz.closed) await stream.close()
  } catch {
    // The host may answer and close (or reset) before it read everything: judge what it said.
  }
  const deadline = AbortSignal.timeout(READ_TIMEOUT + 15_000)
  try {
    for (let i = 0; i < 100_000; i++) {
      const bytes = (await lp.read({ signal: deadline })).subarray()
      outcome.frames.push(JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>)
    }
  } catch (err) {
    const name = (err as Error).name
    if (name === 'UnexpectedEOFError') {
      // The host closed its side (the normal end), or reset the stream before we read:
      // libp2p's reader reports both as the end of the stream.
      outcome.reset = stream.status === 'reset'
    } else if (['StreamResetError', 'StreamAbortedError', 'StreamStateError'].includes(name)) {
      outcome.reset = true
    } else if (deadline.aborted) {
      outcome.hang = true
    } else {
      outcome.failure = `read: ${name}: ${(err as Error).message}`
    }
  }
  if (stream.status === 'open') await stream.close().catch(() => stream.abort(new Error('done')))
  if (stream.status === 'open') stream.abort(new Error('done'))
  return outcome
}

type Judge = (request: ValidRequest, outcome: Outcome) => string | undefined

/** The echo backend's answers, exactly. */
const judgeEcho: Judge = (request, { frames }) => {
  if (request.kind === 'info') {
    return frames.length === 1 &&
      frames[0]?.success === true &&
      (frames[0].data as { model?: string }).model === 'echo'
      ? undefined
      : 'info not answered'
  }
  if (!request.stream) {
    if (wholeReplyBytes(request.text) > MAX_FRAME)
      return frames.length === 1 && frames[0]?.code === 'FRAME_TOO_LARGE'
        ? undefined
        : 'reply over the limit not refused'
    const data = frames[0]?.data as { content?: string; stop?: boolean } | undefined
    return frames.length === 1 && data?.content === request.text && data.stop === true
      ? undefined
      : 'wrong whole reply'
  }
  const pieces = frames.map((f) => f.data as { content: string; stop: boolean } | undefined)
  if (frames.some((f) => f.success !== true) || pieces.length === 0) return 'stream failed'
  if (pieces.map((p) => p?.content).join('') !== request.text) return 'wrong streamed text'
  if (pieces.at(-1)?.stop !== true || pieces.slice(0, -1).some((p) => p?.stop))
    return 'wrong stop flags'
  return undefined
}

/**
 * llama-server on the scripted model: a piece of the scripted reply (where it starts depends on
 * how the prompt ends, how long it is on max_tokens), or a backend error.
 */
const judgeLlama: Judge = (request, { frames }) => {
  if (frames.length === 1 && frames[0]?.success === false) {
    return ['BACKEND_ERROR', 'TIMEOUT'].includes(frames[0].code as string)
      ? undefined
      : `unexpected ${String(frames[0].code)}`
  }
  if (frames.some((f) => f.success !== true) || frames.length === 0) return 'failed'
  if (request.kind === 'info') return undefined
  const text = frames.map((f) => (f.data as { content: string }).content).join('')
  return SCRIPTED_COMPLETION.repeat(2).includes(text) &&
    (frames.at(-1)?.data as { stop?: boolean } | undefined)?.stop === true
    ? undefined
    : `wrong text ${JSON.stringify(text)}`
}

function judge(fuzz: FuzzCase, outcome: Outcome, judgeValid: Judge): string | undefined {
  if (outcome.failure != null) return outcome.failure
  if (outcome.hang) return 'the stream hung'
  const expected = expectFor(fuzz.bytes, fuzz.closed)
  switch (expected.type) {
    case 'silent':
      return outcome.frames.length === 0 && !outcome.reset ? undefined : 'empty stream answered'
    case 'valid':
      if (outcome.reset) return 'valid request reset'
      return judgeValid(expected.request, outcome)
    case 'error': {
      if (outcome.reset && outcome.frames.length === 0) return undefined
      const [first] = outcome.frames
      if (outcome.frames.length !== 1 || first?.success !== false)
        return `expected one error frame (${expected.reason})`
      if (!expected.codes.includes(first.code as string))
        return `expected ${expected.codes.join('|')} (${expected.reason}), got ${String(first.code)}`
      if (typeof first.error !== 'string' || first.error.length < 5) return 'no error message'
      if (
        expected.field != null &&
        fuzz.category === `wrong type: ${expected.field}` &&
        !first.error.includes(expected.field)
      )
        return `error does not name ${expected.field}: ${first.error}`
      return undefined
    }
  }
}

const describeBytes = (bytes: Uint8Array): string =>
  `${bytes.length} bytes: ${Buffer.from(bytes.subarray(0, 48)).toString('hex')}${bytes.length > 48 ? '…' : ''}`

// ---------------------------------------------------------------------------------------------
// The harness: a host, raw clients, a well-behaved guest alongside.
// ---------------------------------------------------------------------------------------------

const echo: ModelBackend = {
  provider: 'echo',
  async *generate(request) {
    const text = request.prompt ?? request.messages?.at(-1)?.content ?? ''
    // Pieces of at most 8 Ki UTF-16 units: a frame of one stays under 64 KiB even when every
    // unit is escaped (6 bytes).
    for (let i = 0; i < text.length; i += 8192) yield { content: text.slice(i, i + 8192) }
  },
  async info() {
    return { model: 'echo' }
  },
}

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
function heap(): { heapUsed: number; rss: number; arrayBuffers: number } {
  gc()
  gc()
  const { heapUsed, rss, arrayBuffers } = process.memoryUsage()
  return { heapUsed, rss, arrayBuffers }
}
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  for (let attempt = 0; attempt < 100_000; attempt++) {
    if (check()) return true
    if (Date.now() > deadline) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

const hostStreams = (host: ModelHost): number =>
  host.libp2p.getConnections().reduce((sum, connection) => sum + connection.streams.length, 0)

interface Harness {
  host: ModelHost
  clients: RawClient[]
  slowClients: RawClient[]
}

async function startHarness(backend: ModelBackend, maxConcurrentRequests: number) {
  const host = await createModelHost({
    backend,
    maxFrameSize: MAX_FRAME,
    requestReadTimeout: READ_TIMEOUT,
    requestTimeout: 30_000,
    maxRequestsPerPeer: 64,
    maxConcurrentRequests,
    maxQueuedRequests: 4096,
  })
  const tcp = host.multiaddrs.find((ma) => ma.includes('/tcp/') && !ma.includes('/ws')) as string
  const ws = host.multiaddrs.find((ma) => ma.includes('/ws')) as string
  const clients = await Promise.all([
    createRawClient(tcp, 'yamux'),
    createRawClient(tcp, 'mplex'),
    createRawClient(ws, 'yamux'),
    createRawClient(ws, 'mplex'),
  ])
  const slowClients = await Promise.all([
    createRawClient(tcp, 'yamux'),
    createRawClient(ws, 'mplex'),
  ])
  return { host, clients, slowClients } satisfies Harness
}

async function stopHarness(harness: Harness | undefined): Promise<void> {
  if (harness == null) return
  await Promise.all(
    [...harness.clients, ...harness.slowClients].map((client) => client.stop().catch(() => {})),
  )
  await harness.host.stop()
}

interface FuzzReport {
  frames: number
  byCategory: Map<string, { count: number; resets: number; codes: Map<string, number> }>
  failures: string[]
}

/** Runs `runs` generated cases against the harness, BATCH at a time. */
async function fuzz(harness: Harness, runs: number, judgeValid: Judge, seedIn?: number) {
  const report: FuzzReport = { frames: 0, byCategory: new Map(), failures: [] }
  const held = harness.slowClients.map(() => new Set<Promise<void>>())
  let slowTurn = 0
  const record = (fuzzCase: FuzzCase, outcome: Outcome): void => {
    report.frames++
    const category = fuzzCase.category.replace(/^(wrong type|huge string|deep JSON).*/, '$1')
    const entry = report.byCategory.get(category) ?? { count: 0, resets: 0, codes: new Map() }
    report.byCategory.set(category, entry)
    entry.count++
    if (outcome.reset) entry.resets++
    const code =
      outcome.frames.length === 0
        ? outcome.reset
          ? 'reset'
          : 'none'
        : outcome.frames[0]?.success === true
          ? 'success'
          : String(outcome.frames[0]?.code)
    entry.codes.set(code, (entry.codes.get(code) ?? 0) + 1)
    const failure = judge(fuzzCase, outcome, judgeValid)
    if (failure != null && report.failures.length < 20)
      report.failures.push(
        `${fuzzCase.category} (${fuzzCase.closed ? 'closed' : 'left open'}), ${describeBytes(fuzzCase.bytes)}: ${failure}; got ${JSON.stringify(outcome).slice(0, 400)}`,
      )
  }
  const batches = Math.max(1, Math.ceil(runs / BATCH))
  const seed = seedIn ?? (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 1
  await fc.assert(
    fc.asyncProperty(fc.array(fuzzCase, { minLength: BATCH, maxLength: BATCH }), async (cases) => {
      // After a failure the remaining runs do nothing: the report names the cases and the seed.
      if (report.failures.length > 0) return
      await Promise.all(
        cases.map(async (fuzzCase, i) => {
          if (fuzzCase.closed) {
            record(
              fuzzCase,
              await runCase(harness.clients[i % harness.clients.length] as RawClient, fuzzCase),
            )
            return
          }
          // Streams left open take READ_TIMEOUT: they run on the side, a bounded number at once.
          const slot = slowTurn++ % held.length
          const pending = held[slot] as Set<Promise<void>>
          while (pending.size >= MAX_HELD_OPEN) await Promise.race(pending)
          const run = runCase(harness.slowClients[slot] as RawClient, fuzzCase).then((outcome) =>
            record(fuzzCase, outcome),
          )
          pending.add(run)
          void run.finally(() => pending.delete(run))
        }),
      )
    }),
    { numRuns: batches, seed },
  )
  await Promise.all(held.flatMap((pending) => [...pending]))
  if (report.failures.length > 0)
    throw new Error(`Fuzz failures (replay: FUZZ_SEED=${seed}):\n${report.failures.join('\n')}`)
  return report
}

function printReport(title: string, report: FuzzReport): void {
  const rows: Record<string, Record<string, string | number>> = {}
  for (const [category, entry] of [...report.byCategory].sort()) {
    rows[category] = {
      frames: entry.count,
      outcomes: [...entry.codes]
        .sort((a, b) => b[1] - a[1])
        .map(([code, n]) => `${code} ${n}`)
        .join(', '),
    }
  }
  console.log(`\n${title}: ${report.frames} frames`)
  console.table(rows)
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

/** Asks with the SDK until `stop()`; every answer must be exact. */
function wellBehavedGuest(model: RemoteModel, expected: (prompt: string) => string) {
  let running = true
  const failures: string[] = []
  let requests = 0
  const done = (async () => {
    for (let i = 0; running && i < 1_000_000; i++) {
      const prompt = `well-behaved ${i} ${'é😀\u202e'.repeat(i % 4)}`
      try {
        let content: string
        if (i % 2 === 0) {
          content = (await model.complete({ prompt, max_tokens: 32 })).content
        } else {
          content = ''
          for await (const chunk of model.stream({ prompt, max_tokens: 32 }))
            content += chunk.content
        }
        if (content !== expected(prompt)) failures.push(`#${i}: got ${JSON.stringify(content)}`)
      } catch (err) {
        failures.push(`#${i}: ${(err as Error).name} ${(err as Error).message}`)
      }
      requests++
    }
  })()
  return {
    async stop() {
      running = false
      await done
      return { requests, failures }
    },
  }
}

describe('fuzzing a live host (echo backend)', () => {
  let harness: Harness | undefined
  beforeAll(async () => {
    harness = await startHarness(echo, 8)
  })
  afterAll(async () => {
    await stopHarness(harness)
  })

  it(`answers ${FUZZ_RUNS} generated frames by the spec, serves a guest alongside, leaks nothing`, {
    timeout: Math.max(120_000, FUZZ_RUNS * 20),
  }, async () => {
    const { host } = harness as Harness
    const model = await connectToModel(host.shareUrl)
    // Warm up (JIT, connection buffers) before the memory baseline.
    await fuzz(harness as Harness, Math.min(160, FUZZ_RUNS), judgeEcho, FUZZ_SEED)
    const before = heap()
    const guest = wellBehavedGuest(model, (prompt) => prompt)
    const started = performance.now()
    let report: FuzzReport
    try {
      report = await fuzz(
        harness as Harness,
        FUZZ_RUNS,
        judgeEcho,
        FUZZ_SEED != null ? FUZZ_SEED + 1 : undefined,
      )
    } finally {
      const { requests, failures } = await guest.stop()
      console.log(`well-behaved guest: ${requests} requests, ${failures.length} failures`)
      expect(failures).toEqual([])
      expect(requests).toBeGreaterThan(0)
    }
    const seconds = (performance.now() - started) / 1000
    expect(host.connections()).toHaveLength(7) // 4 + 2 raw clients, the SDK guest
    await model.close()
    // Nothing left behind: no stream (the guest's spare stream went with it), no request.
    expect(await waitFor(() => hostStreams(host) === 0, 10_000)).toBe(true)
    const stats = host.stats()
    expect(stats).toMatchObject({ activeRequests: 0, queuedRequests: 0 })
    for (const code of Object.keys(stats.errors))
      expect(['INVALID_REQUEST', 'FRAME_TOO_LARGE', 'TIMEOUT', 'ABORTED']).toContain(code)
    const after = heap()
    printReport(`fuzz (echo backend) in ${seconds.toFixed(1)} s`, report)
    console.log(
      `host stats: ${JSON.stringify(stats.errors)}, completed ${stats.completedRequests}; ` +
        `heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)}, arrayBuffers ` +
        `${mib(before.arrayBuffers)} → ${mib(after.arrayBuffers)}, rss ${mib(before.rss)} → ${mib(after.rss)}`,
    )
    expect(report.frames).toBeGreaterThanOrEqual(FUZZ_RUNS)
    // Flat memory: what stays after a full GC does not grow with the number of frames.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(48 * 2 ** 20)
  })

  it('takes a burst of 200 parallel streams on one connection: beyond the limit they are reset, the rest answered', {
    timeout: 60_000,
  }, async () => {
    const { host, clients } = harness as Harness
    const client = await createRawClient(
      host.multiaddrs.find((ma) => ma.includes('/tcp/') && !ma.includes('/ws')) as string,
      'yamux',
    )
    try {
      // Once the connection is up on the host's side too: libp2p's muxers drop a connection
      // whose peer opens more than 10 streams before the host listens on it (maxEarlyStreams;
      // see docs/reliability.md).
      await client.request({ prompt: 'ready' })
      const outcomes = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          runCase(client, {
            category: 'burst',
            bytes: frame(json(i % 2 === 0 ? { prompt: `burst ${i}` } : { prompt: i })),
            closed: true,
          }),
        ),
      )
      let answered = 0
      const kinds = new Map<string, number>()
      for (const outcome of outcomes) {
        const kind =
          outcome.failure ?? (outcome.reset ? 'reset' : outcome.hang ? 'hang' : 'answered')
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
      }
      console.log('burst outcomes', Object.fromEntries(kinds))
      for (const [i, outcome] of outcomes.entries()) {
        expect(outcome.hang).toBe(false)
        if (outcome.reset || outcome.failure?.startsWith('open:')) continue
        answered++
        expect(outcome.frames[0]).toMatchObject(
          i % 2 === 0
            ? { success: true, data: { content: `burst ${i}` } }
            : { success: false, code: 'INVALID_REQUEST' },
        )
      }
      console.log(`burst: ${answered}/200 answered, the rest reset (maxInboundStreams 64)`)
      expect(answered).toBeGreaterThanOrEqual(64)
      // The connection and the host are fine afterwards.
      const [next] = (await client.request({ prompt: 'after the burst' })) as Array<unknown>
      expect(next).toMatchObject({ success: true, data: { content: 'after the burst' } })
      expect(clients.every((c) => c.connection.status === 'open')).toBe(true)
    } finally {
      await client.stop()
    }
  })

  it('closes a stream the guest closed without asking (it does not linger on the host)', async () => {
    const { host } = harness as Harness
    const client = await createRawClient(
      host.multiaddrs.find((ma) => ma.includes('/tcp/') && !ma.includes('/ws')) as string,
      'yamux',
    )
    try {
      // More silent streams than maxInboundStreams (64): lingering ones would block the
      // connection for good.
      for (let i = 0; i < 70; i++) {
        const stream = await client.openStream()
        await stream.close()
      }
      const connection = () =>
        host.libp2p
          .getConnections()
          .find((c) => c.remotePeer.toString() === client.node.peerId.toString())
      expect(await waitFor(() => connection()?.streams.length === 0, 10_000)).toBe(true)
      const [reply] = (await client.request({ prompt: 'still here' })) as Array<unknown>
      expect(reply).toMatchObject({ success: true, data: { content: 'still here' } })
    } finally {
      await client.stop()
    }
  })
})

describe('fuzzing a live host (llama-server backend)', () => {
  let llama: LlamaServer | undefined
  let harness: Harness | undefined
  beforeAll(async () => {
    llama = await startScriptedLlamaServer({ parallel: 2 })
    harness = await startHarness(llamaCpp({ url: llama.url }), 2)
  })
  afterAll(async () => {
    await stopHarness(harness)
    await llama?.stop()
  })

  it(`answers ${FUZZ_LLAMA_RUNS} generated frames by the spec, and llama-server survives`, {
    timeout: Math.max(120_000, FUZZ_LLAMA_RUNS * 200),
  }, async () => {
    const { host } = harness as Harness
    const model = await connectToModel(host.shareUrl)
    const guest = wellBehavedGuest(model, () => SCRIPTED_COMPLETION)
    const started = performance.now()
    const report = await fuzz(harness as Harness, FUZZ_LLAMA_RUNS, judgeLlama, FUZZ_SEED).catch(
      (err: Error) => err,
    )
    const { requests, failures } = await guest.stop()
    console.log(
      `well-behaved guest: ${requests} requests, ${failures.length} failures; llama-server ` +
        `${llama?.process.exitCode == null && llama?.process.signalCode == null ? 'alive' : 'exited'}`,
    )
    if (report instanceof Error) throw report
    expect(failures).toEqual([])
    printReport(
      `fuzz (llama-server) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      report,
    )
    console.log(`host stats: ${JSON.stringify(host.stats().errors)}`)
    expect(llama?.process.exitCode).toBeNull()
    expect((await model.complete({ prompt: 'Tell me something', max_tokens: 32 })).content).toBe(
      SCRIPTED_COMPLETION,
    )
    await model.close()
    expect(await waitFor(() => hostStreams(host) === 0, 10_000)).toBe(true)
    expect(host.stats()).toMatchObject({ activeRequests: 0, queuedRequests: 0 })
  })
})
