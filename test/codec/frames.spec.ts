import { streamPair } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import { describe, expect, it } from 'vitest'
import { frameStream } from '../../src/codec/frames.ts'

describe('frameStream', () => {
  it('carries JSON values both ways, byte-exact for unicode', async () => {
    const [a, b] = await streamPair()
    const left = frameStream(a)
    const right = frameStream(b)
    const value = { prompt: 'héllo 🌍 \u0000 "quoted"', n: 1.5, nested: { list: [1, null, true] } }
    await left.write(value)
    expect(await right.read()).toEqual(value)
    await right.write({ success: true, data: { content: '✓', stop: true } })
    expect(await left.read()).toEqual({ success: true, data: { content: '✓', stop: true } })
  })

  it('writes an unsigned-varint length prefix before the UTF-8 JSON body', async () => {
    const [a, b] = await streamPair()
    const received: Uint8Array[] = []
    b.addEventListener('message', (event) => received.push(event.data.subarray()))
    await frameStream(a).write({ prompt: 'x'.repeat(200) })
    await a.close()
    await new Promise((resolve) => setTimeout(resolve, 20))
    const bytes = Buffer.concat(received)
    const body = JSON.stringify({ prompt: 'x'.repeat(200) })
    expect(varint.decode(bytes)).toBe(body.length)
    expect(bytes.subarray(varint.encodingLength(body.length)).toString('utf8')).toBe(body)
  })

  it('resolves undefined when the remote closes between frames', async () => {
    const [a, b] = await streamPair()
    const right = frameStream(b)
    await frameStream(a).write({ one: 1 })
    await a.close()
    expect(await right.read()).toEqual({ one: 1 })
    expect(await right.read()).toBeUndefined()
  })

  it('rejects a frame over maxFrameSize, reading no further', async () => {
    const [a, b] = await streamPair()
    const right = frameStream(b, { maxFrameSize: 100 })
    await frameStream(a).write({ big: 'x'.repeat(200) })
    await expect(right.read()).rejects.toMatchObject({
      name: 'FrameTooLargeError',
      code: 'FRAME_TOO_LARGE',
    })
  })

  it('refuses to write a frame over maxFrameSize', async () => {
    const [a] = await streamPair()
    await expect(
      frameStream(a, { maxFrameSize: 10 }).write({ big: 'x'.repeat(20) }),
    ).rejects.toMatchObject({
      code: 'FRAME_TOO_LARGE',
    })
  })

  it('rejects an endless length prefix as too large', async () => {
    const [a, b] = await streamPair()
    const right = frameStream(b, { maxFrameSize: 1024 })
    a.send(new Uint8Array(8).fill(0x80))
    await expect(right.read()).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE' })
  })

  it('reports a stream that ends inside a frame as a protocol error', async () => {
    const [a, b] = await streamPair()
    const right = frameStream(b)
    a.send(Uint8Array.from([10, 0x7b, 0x7d]))
    await a.close()
    await expect(right.read()).rejects.toMatchObject({
      name: 'ProtocolError',
      code: 'PROTOCOL_ERROR',
    })
  })

  it('reports bytes that are not UTF-8 JSON as a protocol error', async () => {
    const [a, b] = await streamPair()
    const right = frameStream(b)
    a.send(Uint8Array.from([3, 0x7b, 0x7b, 0x7b]))
    await expect(right.read()).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringContaining('JSON'),
    })
    const [c, d] = await streamPair()
    c.send(Uint8Array.from([2, 0xc3, 0x28]))
    await expect(frameStream(d).read()).rejects.toMatchObject({
      message: expect.stringContaining('UTF-8'),
    })
  })
})
