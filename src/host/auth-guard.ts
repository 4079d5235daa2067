/**
 * API-key checks with brute-force protection: keys are compared in constant time; each wrong
 * key from a peer is answered more slowly than the last, and after `maxAuthFailures` the peer
 * is disconnected and refused for `authBlockDuration`.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { UnauthorizedError } from '../codec/errors.ts'

export interface AuthGuardInit {
  apiKey?: string
  /** Wrong keys in a row before a peer is blocked. */
  maxAuthFailures: number
  /** How long such a peer is refused, in ms. */
  authBlockDuration: number
  /** Delay before answering the first wrong key, in ms; doubles with each further one (capped at 5 s). */
  authFailureDelay: number
  /**
   * Called when a peer has used up its attempts, before its last `UNAUTHORIZED` is answered
   * (the host blocks it, then disconnects it once that answer is written).
   */
  onBlock(peerId: string, duration: number): void
}

const MAX_FAILURE_DELAY = 5_000
/** Peers whose failures are remembered; the oldest are forgotten beyond it (bounded memory). */
const MAX_TRACKED_PEERS = 10_000

export class AuthGuard {
  private readonly init: AuthGuardInit
  private readonly keyDigest?: Buffer
  private readonly failures = new Map<string, number>()

  constructor(init: AuthGuardInit) {
    this.init = init
    if (init.apiKey != null && init.apiKey !== '') this.keyDigest = digest(init.apiKey)
  }

  get required(): boolean {
    return this.keyDigest != null
  }

  /** Resolves when `apiKey` is right (or none is needed); otherwise rejects, after the peer's delay. */
  async check(peerId: string, apiKey: string | undefined, signal: AbortSignal): Promise<void> {
    if (this.keyDigest == null) return
    // Digests have equal length, so the comparison time reveals nothing about the key.
    if (apiKey != null && timingSafeEqual(digest(apiKey), this.keyDigest)) {
      this.failures.delete(peerId)
      return
    }
    const count = (this.failures.get(peerId) ?? 0) + 1
    this.failures.delete(peerId)
    this.failures.set(peerId, count)
    if (this.failures.size > MAX_TRACKED_PEERS)
      this.failures.delete(this.failures.keys().next().value as string)
    const error = new UnauthorizedError(
      apiKey == null ? 'This host requires an API key' : 'Wrong API key',
    )
    if (count >= this.init.maxAuthFailures) {
      this.failures.delete(peerId)
      this.init.onBlock(peerId, this.init.authBlockDuration)
      throw error
    }
    const delay = Math.min(this.init.authFailureDelay * 2 ** (count - 1), MAX_FAILURE_DELAY)
    await sleep(delay, signal)
    throw error
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest()
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
