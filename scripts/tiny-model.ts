/**
 * Generates tiny but valid GGUF models (llama architecture, F32, ~17 MB) for tests, so the suite
 * can drive a real llama-server without downloading weights. Node builtins only.
 *
 *   npx tsx scripts/tiny-model.ts --vocab <ggml-vocab-llama-spm.gguf> --out <model.gguf> [--random]
 *
 * The vocabulary comes from llama.cpp's vocab-only `models/ggml-vocab-llama-spm.gguf`
 * (32,000 SentencePiece tokens); scripts/llama-server.sh copies it next to the binary it builds.
 *
 * Two kinds:
 * - `scripted`: a hand-wired network that answers with SCRIPTED_REPLY and then end-of-sequence,
 *   under greedy and default sampling alike, so tests can assert exact text. It has no memory
 *   beyond the last token (see the wiring in `tensors`), which has one consequence for raw
 *   prompts: if a prompt's last token is itself one of the reply's tokens, the answer resumes
 *   from there ("We share" -> " well"). Chat endpoints are immune (the chat template ends the
 *   prompt with its own glue), as is any prompt ending in other words or in punctuation.
 * - `random`: small seeded random weights; deterministic file, gibberish output. Useful where
 *   only the plumbing matters (long generations, throughput, cancellation).
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, rm } from 'node:fs/promises'
import { endianness } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

/**
 * The scripted model's answer. Its SentencePiece pieces (greedy longest match) must all be
 * different tokens, because the network maps "current token" -> "next token". No final period on
 * purpose: "." is the most common last token of a raw prompt ("Say hello."), and a prompt ending
 * in the reply's last token is answered with an immediate end-of-sequence.
 */
export const SCRIPTED_REPLY = 'Peer to peer models share well'

/**
 * What llama-server returns as `content` for the scripted model, verified for /completion (plain
 * and streamed pieces joined) and /v1/chat/completions (plain and streamed deltas joined). The
 * first piece is `▁Pe`, which llama.cpp renders as " Pe": generated SentencePiece tokens keep
 * their word-start space, and the server does not trim it.
 */
export const SCRIPTED_COMPLETION = ` ${SCRIPTED_REPLY}`

export interface TinyModelOptions {
  /** A GGUF holding a llama SentencePiece vocabulary (tokenizer.* keys), e.g. ggml-vocab-llama-spm.gguf. */
  vocabPath: string
  outPath: string
  kind: 'scripted' | 'random'
  /** Transformer blocks; default 1. */
  blockCount?: number
}

// Hyper-parameters: about as small as a llama model gets while staying ordinary. The scripted
// wiring spends one embedding dimension per reply token plus one "start" dimension.
const N_EMBD = 64
const N_FF = 128
const N_HEAD = 4
const N_CTX_TRAIN = 2048
const ALIGNMENT = 32
/** Logit weight of the wired transitions. After RMS norm a one-hot state becomes ~8·e_k, so the
 * chosen token's logit is ~160 against 0 for every other token: a certainty under any sampler. */
const WIRE = 20
const RANDOM_SEED = 0x5eed_1e55

// GGUF value types (gguf.h, enum gguf_type).
const T = {
  U8: 0,
  I8: 1,
  U16: 2,
  I16: 3,
  U32: 4,
  I32: 5,
  F32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  U64: 10,
  I64: 11,
  F64: 12,
} as const
type GgufType = (typeof T)[keyof typeof T]

const FIXED_SIZE: Partial<Record<number, number>> = {
  [T.U8]: 1,
  [T.I8]: 1,
  [T.BOOL]: 1,
  [T.U16]: 2,
  [T.I16]: 2,
  [T.U32]: 4,
  [T.I32]: 4,
  [T.F32]: 4,
  [T.U64]: 8,
  [T.I64]: 8,
  [T.F64]: 8,
}

type GgufValue = number | bigint | boolean | string | GgufValue[]

interface GgufKv {
  key: string
  value: GgufValue
  /** The entry exactly as stored (key, type and value); copied verbatim into the new file so every
   * typed value (arrays of i32 token types, f32 scores, …) survives without re-encoding. */
  raw: Buffer
}

/** Reads the key/value section of a GGUF file (tensor infos and data are not needed here). */
function readGgufKvs(buf: Buffer): GgufKv[] {
  let pos = 0
  const need = (n: number): void => {
    if (pos + n > buf.length) throw new Error(`truncated GGUF (need ${n} bytes at ${pos})`)
  }
  const u32 = (): number => {
    need(4)
    const v = buf.readUInt32LE(pos)
    pos += 4
    return v
  }
  const u64 = (): number => {
    need(8)
    const v = buf.readBigUInt64LE(pos)
    pos += 8
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`GGUF count too large at ${pos - 8}`)
    return Number(v)
  }
  const str = (): string => {
    const len = u64()
    need(len)
    const s = buf.toString('utf8', pos, pos + len)
    pos += len
    return s
  }
  const scalar = (type: number): GgufValue => {
    const size = FIXED_SIZE[type]
    if (size === undefined) throw new Error(`unknown GGUF value type ${type}`)
    need(size)
    const at = pos
    pos += size
    switch (type) {
      case T.U8:
        return buf.readUInt8(at)
      case T.I8:
        return buf.readInt8(at)
      case T.BOOL:
        return buf.readUInt8(at) !== 0
      case T.U16:
        return buf.readUInt16LE(at)
      case T.I16:
        return buf.readInt16LE(at)
      case T.U32:
        return buf.readUInt32LE(at)
      case T.I32:
        return buf.readInt32LE(at)
      case T.F32:
        return buf.readFloatLE(at)
      case T.U64:
        return buf.readBigUInt64LE(at)
      case T.I64:
        return buf.readBigInt64LE(at)
      default:
        return buf.readDoubleLE(at)
    }
  }
  const value = (type: number): GgufValue => {
    if (type === T.STRING) return str()
    if (type !== T.ARRAY) return scalar(type)
    const itemType = u32()
    const n = u64()
    const items: GgufValue[] = new Array(n)
    for (let i = 0; i < n; i++) items[i] = value(itemType)
    return items
  }

  need(24)
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error('not a GGUF file (bad magic)')
  pos = 4
  const version = u32()
  if (version < 2) throw new Error(`unsupported GGUF version ${version}`)
  u64() // tensor count: irrelevant for a vocabulary donor
  const nKv = u64()
  const kvs: GgufKv[] = []
  for (let i = 0; i < nKv; i++) {
    const start = pos
    const key = str()
    const v = value(u32())
    kvs.push({ key, value: v, raw: buf.subarray(start, pos) })
  }
  return kvs
}

// ---- writing ------------------------------------------------------------------------------

function encStr(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8')
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(bytes.length))
  return Buffer.concat([len, bytes])
}

function encU32(v: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(v)
  return b
}

function encU64(v: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(v))
  return b
}

function encKv(key: string, type: GgufType, value: string | number): Buffer {
  let payload: Buffer
  if (type === T.STRING) payload = encStr(String(value))
  else if (type === T.U32) payload = encU32(Number(value))
  else if (type === T.F32) {
    payload = Buffer.alloc(4)
    payload.writeFloatLE(Number(value))
  } else throw new Error(`encKv: unsupported type ${type}`)
  return Buffer.concat([encStr(key), encU32(type), payload])
}

const padTo = (n: number, a: number): number => Math.ceil(n / a) * a

interface TensorSpec {
  name: string
  /** GGUF order: fastest-varying dimension first (a [rows=vocab][cols=embd] matrix is [embd, vocab]). */
  ne: number[]
  data: Float32Array
}

// ---- tokenizer ----------------------------------------------------------------------------

interface Vocab {
  tokens: string[]
  /** llama_token_type per token: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte. */
  types: number[]
  bos: number
  eos: number
}

function vocabFrom(kvs: GgufKv[]): Vocab {
  const get = (key: string): GgufValue => {
    const kv = kvs.find((k) => k.key === key)
    if (!kv) throw new Error(`vocab GGUF lacks ${key}`)
    return kv.value
  }
  if (get('tokenizer.ggml.model') !== 'llama') {
    throw new Error('vocab must be a SentencePiece (tokenizer.ggml.model = "llama") vocabulary')
  }
  const tokens = get('tokenizer.ggml.tokens')
  const types = get('tokenizer.ggml.token_type')
  if (!Array.isArray(tokens) || !Array.isArray(types)) throw new Error('malformed tokenizer arrays')
  return {
    tokens: tokens.map(String),
    types: types.map(Number),
    bos: Number(get('tokenizer.ggml.bos_token_id')),
    eos: Number(get('tokenizer.ggml.eos_token_id')),
  }
}

/**
 * Splits text into SentencePiece pieces by greedy longest match. This need not equal llama.cpp's
 * own (score-driven) tokenization: the model only has to *emit* a token sequence that renders to
 * the text. Byte tokens (<0xNN>) cover anything no piece matches.
 */
function tokenize(vocab: Vocab, text: string): number[] {
  const byPiece = new Map<string, number>()
  let maxLen = 0
  vocab.tokens.forEach((piece, id) => {
    if (vocab.types[id] !== 1 && vocab.types[id] !== 4) return // normal and user-defined only
    if (!byPiece.has(piece)) byPiece.set(piece, id)
    maxLen = Math.max(maxLen, piece.length)
  })
  const s = `▁${text.replaceAll(' ', '▁')}` // SentencePiece marks word starts, incl. the first
  const ids: number[] = []
  for (let i = 0; i < s.length; ) {
    let matched = false
    for (let len = Math.min(maxLen, s.length - i); len > 0; len--) {
      const id = byPiece.get(s.slice(i, i + len))
      if (id !== undefined) {
        ids.push(id)
        i += len
        matched = true
        break
      }
    }
    if (matched) continue
    const cp = s.codePointAt(i) ?? 0
    const ch = String.fromCodePoint(cp)
    for (const byte of Buffer.from(ch, 'utf8')) {
      const hex = byte.toString(16).toUpperCase().padStart(2, '0')
      const id = vocab.tokens.indexOf(`<0x${hex}>`)
      if (id < 0) throw new Error(`no token for byte 0x${hex}`)
      ids.push(id)
    }
    i += ch.length
  }
  return ids
}

// ---- weights ------------------------------------------------------------------------------

/** mulberry32: tiny, seedable, good enough to make weights look random. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function tensors(vocab: Vocab, kind: 'scripted' | 'random', blockCount: number): TensorSpec[] {
  const nVocab = vocab.tokens.length
  const rand = rng(RANDOM_SEED)
  // Scripted: zeros, so attention and FFN add nothing and each position's residual stream is just
  // its token embedding. Random: uniform in ±scale.
  const weights = (n: number, scale: number): Float32Array => {
    const a = new Float32Array(n)
    if (kind === 'random') for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale
    return a
  }
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1)
  // Matrices are stored row by row, one row per output feature: row r of a [cols, rows] tensor
  // is data[r * cols .. r * cols + cols).
  const row = (m: Float32Array, cols: number, r: number): Float32Array =>
    m.subarray(r * cols, r * cols + cols)

  const embd = weights(N_EMBD * nVocab, 1)
  const out = weights(N_EMBD * nVocab, 0.5)
  const blocks = Array.from({ length: blockCount }, () => ({
    q: weights(N_EMBD * N_EMBD, 1 / Math.sqrt(N_EMBD)),
    k: weights(N_EMBD * N_EMBD, 1 / Math.sqrt(N_EMBD)),
    v: weights(N_EMBD * N_EMBD, 1 / Math.sqrt(N_EMBD)),
    o: weights(N_EMBD * N_EMBD, 1 / Math.sqrt(N_EMBD)),
    gate: weights(N_EMBD * N_FF, 1 / Math.sqrt(N_EMBD)),
    up: weights(N_EMBD * N_FF, 1 / Math.sqrt(N_EMBD)),
    down: weights(N_FF * N_EMBD, 1 / Math.sqrt(N_FF)),
  }))
  // The last embedding dimension is reserved: "start" for the scripted model, bias lane for the
  // random one.
  const lane = N_EMBD - 1

  if (kind === 'scripted') {
    const ids = tokenize(vocab, SCRIPTED_REPLY)
    const [first] = ids
    if (first === undefined) throw new Error('SCRIPTED_REPLY is empty')
    if (new Set(ids).size !== ids.length) throw new Error(`SCRIPTED_REPLY repeats a token: ${ids}`)
    if (ids.length > lane) throw new Error('SCRIPTED_REPLY has too many tokens for N_EMBD')
    if (ids.includes(vocab.eos) || ids.includes(vocab.bos)) throw new Error('reply uses BOS/EOS')
    // Every token that is not part of the reply (prompt text, BOS, chat-template glue) embeds to
    // the "start" direction; reply token k embeds to direction k. Row r of `out` holds the logit
    // weights of vocab token r, so out[next][current direction] = WIRE chains the reply:
    // start -> t0 -> t1 -> … -> tn -> EOS. The last token also points back to t0 at half weight:
    // irrelevant while EOS is allowed (logit ~160 vs ~80), but with `ignore_eos` (EOS banned) the
    // reply then repeats cleanly instead of continuing with whatever uniform sampling picks.
    for (let t = 0; t < nVocab; t++) embd[t * N_EMBD + lane] = 1
    ids.forEach((id, k) => {
      embd[id * N_EMBD + lane] = 0
      embd[id * N_EMBD + k] = 1
      out[id * N_EMBD + (k === 0 ? lane : k - 1)] = WIRE
    })
    const last = ids.length - 1
    out[vocab.eos * N_EMBD + last] = WIRE
    out[first * N_EMBD + last] = WIRE / 2
  } else {
    // Random weights would also pick byte-fallback tokens (<0xNN>), whose loose bytes are invalid
    // UTF-8; llama-server then fails the whole response ("The model produced output that does not
    // match the expected Content-only format", HTTP 500). So only normal tokens may be generated,
    // which also rules out EOS: a random generation always runs to n_predict / max_tokens.
    // Mechanism: a constant-1 "bias lane" in every embedding, kept out of the attention and FFN
    // outputs so it reaches the output norm intact (as 1/rms > 0), with a large negative weight in
    // the output rows of every token that is not a normal token.
    for (let t = 0; t < nVocab; t++) {
      embd[t * N_EMBD + lane] = 1
      out[t * N_EMBD + lane] = vocab.types[t] === 1 ? 0 : -100
    }
    for (const blk of blocks) {
      row(blk.o, N_EMBD, lane).fill(0)
      row(blk.down, N_FF, lane).fill(0)
    }
  }

  const list: TensorSpec[] = [
    { name: 'token_embd.weight', ne: [N_EMBD, nVocab], data: embd },
    { name: 'output_norm.weight', ne: [N_EMBD], data: ones(N_EMBD) },
    { name: 'output.weight', ne: [N_EMBD, nVocab], data: out },
  ]
  blocks.forEach((blk, i) => {
    const b = `blk.${i}`
    list.push(
      { name: `${b}.attn_norm.weight`, ne: [N_EMBD], data: ones(N_EMBD) },
      { name: `${b}.attn_q.weight`, ne: [N_EMBD, N_EMBD], data: blk.q },
      { name: `${b}.attn_k.weight`, ne: [N_EMBD, N_EMBD], data: blk.k },
      { name: `${b}.attn_v.weight`, ne: [N_EMBD, N_EMBD], data: blk.v },
      { name: `${b}.attn_output.weight`, ne: [N_EMBD, N_EMBD], data: blk.o },
      { name: `${b}.ffn_norm.weight`, ne: [N_EMBD], data: ones(N_EMBD) },
      { name: `${b}.ffn_gate.weight`, ne: [N_EMBD, N_FF], data: blk.gate },
      { name: `${b}.ffn_up.weight`, ne: [N_EMBD, N_FF], data: blk.up },
      { name: `${b}.ffn_down.weight`, ne: [N_FF, N_EMBD], data: blk.down },
    )
  })
  return list
}

// ---- entry points -------------------------------------------------------------------------

export async function writeTinyModel(opts: TinyModelOptions): Promise<void> {
  const blockCount = opts.blockCount ?? 1
  if (!Number.isInteger(blockCount) || blockCount < 1) throw new Error('blockCount must be >= 1')
  // Tensor data is written straight from Float32Array memory; GGUF is little endian.
  if (endianness() !== 'LE') throw new Error('tiny-model writes little-endian GGUF only')

  const donor = readGgufKvs(await readFile(opts.vocabPath))
  const vocab = vocabFrom(donor)
  const specs = tensors(vocab, opts.kind, blockCount)

  const kvs: Buffer[] = [
    encKv('general.architecture', T.STRING, 'llama'),
    encKv('general.name', T.STRING, `p2p-llm tiny ${opts.kind}`),
    encKv('general.file_type', T.U32, 0), // ALL_F32
    encKv('general.alignment', T.U32, ALIGNMENT),
    encKv('llama.context_length', T.U32, N_CTX_TRAIN),
    encKv('llama.embedding_length', T.U32, N_EMBD),
    encKv('llama.block_count', T.U32, blockCount),
    encKv('llama.feed_forward_length', T.U32, N_FF),
    encKv('llama.attention.head_count', T.U32, N_HEAD),
    encKv('llama.attention.head_count_kv', T.U32, N_HEAD),
    encKv('llama.rope.dimension_count', T.U32, N_EMBD / N_HEAD),
    encKv('llama.attention.layer_norm_rms_epsilon', T.F32, 1e-5),
    encKv('llama.vocab_size', T.U32, vocab.tokens.length),
    ...donor.filter((kv) => kv.key.startsWith('tokenizer.')).map((kv) => kv.raw),
  ]

  const infos: Buffer[] = []
  let offset = 0 // relative to the start of the data section
  for (const t of specs) {
    infos.push(
      encStr(t.name),
      encU32(t.ne.length),
      ...t.ne.map(encU64),
      encU32(0), // GGML_TYPE_F32
      encU64(offset),
    )
    offset = padTo(offset + t.data.byteLength, ALIGNMENT)
  }
  const header = Buffer.concat([
    Buffer.from('GGUF', 'latin1'),
    encU32(3),
    encU64(specs.length),
    encU64(kvs.length),
    ...kvs,
    ...infos,
  ])

  // Write under a temporary name and rename: concurrent test workers may generate the same model
  // and must never load a half-written file.
  const outPath = resolve(opts.outPath)
  const tmp = `${outPath}.${randomBytes(4).toString('hex')}.tmp`
  const fh = await open(tmp, 'w')
  try {
    let pos = 0
    const put = async (b: Uint8Array): Promise<void> => {
      await fh.write(b, 0, b.byteLength, pos)
      pos += b.byteLength
    }
    const padding = (to: number): Uint8Array => new Uint8Array(padTo(to, ALIGNMENT) - to)
    await put(header)
    await put(padding(pos))
    for (const t of specs) {
      await put(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
      await put(padding(pos))
    }
    await fh.close()
    await rename(tmp, outPath)
  } catch (err) {
    await fh.close().catch(() => {})
    await rm(tmp, { force: true })
    throw err
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vocab: { type: 'string' },
      out: { type: 'string' },
      random: { type: 'boolean', default: false },
      blocks: { type: 'string' },
    },
  })
  if (!values.vocab || !values.out) {
    console.error(
      'usage: tsx scripts/tiny-model.ts --vocab <vocab.gguf> --out <model.gguf> [--random] [--blocks N]',
    )
    process.exit(2)
  }
  await writeTinyModel({
    vocabPath: values.vocab,
    outPath: values.out,
    kind: values.random ? 'random' : 'scripted',
    ...(values.blocks !== undefined && { blockCount: Number(values.blocks) }),
  })
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}
