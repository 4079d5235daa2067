/** Small node:http helpers: a size-capped JSON body, JSON replies, and server-sent events. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { FrameTooLargeError } from '../codec/errors.ts'
import { InvalidParameterError } from './errors.ts'

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  // Reverse proxies (nginx) would otherwise buffer the stream.
  'x-accel-buffering': 'no',
} as const

/**
 * Reads a request body of at most `limit` bytes and parses it as JSON. Too large:
 * {@link FrameTooLargeError} (413), without reading the rest. Not JSON: {@link InvalidParameterError} (400).
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = (): FrameTooLargeError =>
    new FrameTooLargeError(`The request body is larger than this proxy's limit of ${limit} bytes`)
  const declared = Number(req.headers['content-length'])
  if (declared > limit) return Promise.reject(tooLarge())
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        req.pause()
        reject(tooLarge())
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      cleanup()
      try {
        resolve(parseJson(Buffer.concat(chunks).toString('utf8')))
      } catch (err) {
        reject(err)
      }
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
  })
}

function parseJson(text: string): unknown {
  if (text.trim() === '') {
    throw new InvalidParameterError('Invalid request: the body is empty; send a JSON object', null)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new InvalidParameterError(
      `Invalid request: the body is not valid JSON (${(err as Error).message})`,
      null,
    )
  }
}

/** Sends a whole JSON reply. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

/**
 * Writes to a reply, waiting while the client reads slower than the model writes (so a slow
 * client holds back the generation instead of filling memory). Resolves early if the client
 * goes away.
 */
export function write(res: ServerResponse, text: string): Promise<void> {
  if (res.destroyed || res.writableEnded) return Promise.resolve()
  if (res.write(text)) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}
