import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { formatShareUrl, parseModelAddress, parseShareUrl } from '../../src/codec/share-url.ts'

const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

describe('share URL', () => {
  it.each([
    { peerId, hubHost: '127.0.0.1', hubPort: 4001, secure: false },
    { peerId, hubHost: 'hub.example.com', hubPort: 443, secure: true },
    { peerId, hubHost: '::1', hubPort: 9000, secure: false },
  ])('round-trips %j', (url) => {
    const text = formatShareUrl(url)
    expect(text.startsWith(`p2p://${peerId}@`)).toBe(true)
    expect(parseShareUrl(text)).toEqual(url)
  })

  it('formats the contract shape', () => {
    expect(formatShareUrl({ peerId, hubHost: '10.0.0.2', hubPort: 4001, secure: false })).toBe(
      `p2p://${peerId}@10.0.0.2:4001`,
    )
  })

  it.each([
    ['', 'Not a share URL'],
    ['p2p://', 'no peer id'],
    [`http://${peerId}@127.0.0.1:1`, 'p2p://'],
    ['p2p://127.0.0.1:4001', 'no peer id'],
    ['p2p://notapeerid@127.0.0.1:4001', 'Invalid peer id'],
    [`p2p://${peerId}@127.0.0.1`, 'no hub port'],
    [`p2p://${peerId}:pw@127.0.0.1:1`, 'password'],
    [`p2p://${peerId}@127.0.0.1:1/path`, 'path'],
    [`p2p://${peerId}@127.0.0.1:1?secure=yes`, 'secure'],
  ])('rejects %j', (input, fragment) => {
    expect(() => parseShareUrl(input)).toThrow(
      expect.objectContaining({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining(fragment),
      }),
    )
  })
})

describe('parseModelAddress', () => {
  it('turns a share URL into the hub WebSocket address of the host', () => {
    const address = parseModelAddress(`p2p://${peerId}@127.0.0.1:4001`)
    expect(address.peerId).toBe(peerId)
    expect(address.multiaddrs.map(String)).toEqual([`/ip4/127.0.0.1/tcp/4001/ws/p2p/${peerId}`])
    expect(
      parseModelAddress(`p2p://${peerId}@hub.example.com:443?secure=1`).multiaddrs.map(String),
    ).toEqual([`/dns/hub.example.com/tcp/443/tls/ws/p2p/${peerId}`])
  })

  it('accepts a multiaddr ending in /p2p/<peerId>', () => {
    const ma = `/ip4/127.0.0.1/tcp/4001/p2p/${peerId}`
    expect(parseModelAddress(ma)).toMatchObject({ peerId })
  })

  it.each(['/ip4/127.0.0.1/tcp/4001', 'not a multiaddr', '/ip4/127.0.0.1/tcp/4001/p2p/bad'])(
    'rejects %j',
    (input) => {
      expect(() => parseModelAddress(input)).toThrow(
        expect.objectContaining({ name: 'InvalidShareUrlError' }),
      )
    },
  )
})
