/**
 * Length-prefixed JSON frames over a libp2p 3 message stream: an unsigned varint length, then
 * that many bytes of UTF-8 JSON (the usual libp2p framing, via `@libp2p/utils`' `lpStream`).
 */
import type { AbortOptions, MessageStream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import { DEFAULT_MAX_FRAME_SIZE } from './constants.ts'
import { FrameTooLargeError, ProtocolError } from './errors.ts'

export interface FrameStreamInit {
  /**
   * Largest frame body accepted or sent, in bytes.
   *
   * @default 1_048_576 (1 MiB)
   */
  maxFrameSize?: number
}

export interface FrameStream {
  /**
   * Reads the next frame and parses its JSON. Resolves `undefined` when the remote closed its
   * side cleanly before a new frame began. Throws {@link FrameTooLargeError} for a frame over
   * the limit and {@link ProtocolError} for bytes that are not UTF-8 JSON or a stream that ends
   * mid-frame.
   */
  read(options?: AbortOptions): Promise<unknown>
  /** Serialises `value` as JSON and writes it as one frame, waiting out backpressure. */
  write(value: unknown, options?: AbortOptions): Promise<void>
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })
const utf8Encoder = new TextEncoder()

export function frameStream(stream: MessageStream, init: FrameStreamInit = {}): FrameStream {
  const maxFrameSize = init.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
  // lpStream reports a stream that ended between frames as an EOF error, just like one that
  // died inside a frame. Counting the length-prefix bytes it has seen tells the two apart.
  let prefixBytesSeen = 0
  const maxPrefixLength = varint.encodingLength(maxFrameSize)
  const lp = lpStream(stream, {
    maxDataLength: maxFrameSize,
    lengthDecoder: (prefix) => {
      prefixBytesSeen = prefix.byteLength
      // lpStream only checks the prefix length once a varint completes; an endless run of
      // continuation bytes would keep it reading. Stop as soon as it cannot fit the limit.
      if (prefix.byteLength > maxPrefixLength) {
        throw new FrameTooLargeError(`Frame length prefix exceeds ${maxPrefixLength} bytes`)
      }
      return varint.decode(prefix)
    },
  })

  return {
    async read(options) {
      prefixBytesSeen = 0
      let bytes: Uint8Array
      try {
        bytes = (await lp.read(options)).subarray()
      } catch (err) {
        if ((err as Error)?.name === 'UnexpectedEOFError' && prefixBytesSeen === 0) return undefined
        throw mapReadError(err, maxFrameSize)
      }
      let text: string
      try {
        text = utf8Decoder.decode(bytes)
      } catch (err) {
        throw new ProtocolError('Frame is not valid UTF-8', { cause: err })
      }
      try {
        return JSON.parse(text) as unknown
      } catch (err) {
        throw new ProtocolError('Frame is not valid JSON', { cause: err })
      }
    },

    async write(value, options) {
      const bytes = utf8Encoder.encode(JSON.stringify(value))
      if (bytes.byteLength > maxFrameSize) {
        throw new FrameTooLargeError(
          `Frame of ${bytes.byteLength} bytes exceeds the ${maxFrameSize} byte limit`,
        )
      }
      await lp.write(bytes, options)
    },
  }
}

function mapReadError(err: unknown, maxFrameSize: number): Error {
  const name = (err as { name?: string })?.name
  switch (name) {
    case 'InvalidDataLengthError':
    case 'InvalidDataLengthLengthError':
      return new FrameTooLargeError(`Frame exceeds the ${maxFrameSize} byte limit`, { cause: err })
    case 'InvalidMessageLengthError':
      return new ProtocolError('Invalid frame length prefix', { cause: err })
    case 'UnexpectedEOFError':
      return new ProtocolError('Stream ended in the middle of a frame', { cause: err })
    default:
      return err instanceof Error ? err : new ProtocolError(String(err))
  }
}
