/**
 * The queue in front of the backend: at most `concurrency` requests run at once; waiting ones
 * are served round-robin across peers — the peer served least recently goes next — so one
 * guest flooding the host delays itself, not the others (each peer's requests stay in order).
 */
import { TooManyRequestsError } from '../codec/errors.ts'

export interface FairQueueInit {
  /** Requests run at once. */
  concurrency: number
  /** Requests waiting at once, over all peers; beyond it `TOO_MANY_REQUESTS`. */
  maxQueued: number
}

/** Peers whose last turn is remembered; more than any sane maxConnections. */
const MAX_REMEMBERED_PEERS = 1024

interface Waiter {
  grant(release: () => void): void
  reject(reason: unknown): void
}

export class FairQueue {
  private readonly init: FairQueueInit
  /** Waiting requests by peer, in order of each peer's first waiting request. */
  private readonly waiting = new Map<string, Waiter[]>()
  /** When each peer was last served (a counter); peers never served go first. */
  private readonly lastServed = new Map<string, number>()
  private served = 0
  private running = 0
  private queued = 0

  constructor(init: FairQueueInit) {
    this.init = init
  }

  /** Requests running now. */
  get active(): number {
    return this.running
  }

  /** Requests waiting now. */
  get size(): number {
    return this.queued
  }

  /**
   * Waits for a turn. Resolves with `release`, to call exactly once when the request is done;
   * rejects with `signal.reason` if the signal fires first, or `TooManyRequestsError` when full.
   */
  acquire(peerId: string, signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted()
    if (this.running < this.init.concurrency && this.queued === 0) {
      this.markServed(peerId)
      this.running++
      return Promise.resolve(this.releaser())
    }
    if (this.queued >= this.init.maxQueued) {
      return Promise.reject(
        new TooManyRequestsError(`The host's queue is full (${this.init.maxQueued} waiting)`),
      )
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: (release) => {
          signal.removeEventListener('abort', onAbort)
          resolve(release)
        },
        reject,
      }
      const onAbort = (): void => {
        const list = this.waiting.get(peerId)
        const index = list?.indexOf(waiter) ?? -1
        if (list == null || index === -1) return
        list.splice(index, 1)
        if (list.length === 0) this.waiting.delete(peerId)
        this.queued--
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      const list = this.waiting.get(peerId)
      if (list != null) list.push(waiter)
      else this.waiting.set(peerId, [waiter])
      this.queued++
    })
  }

  private releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      this.running--
      this.dispatch()
    }
  }

  private dispatch(): void {
    while (this.running < this.init.concurrency && this.queued > 0) {
      let peerId: string | undefined
      let oldest = Number.POSITIVE_INFINITY
      for (const candidate of this.waiting.keys()) {
        const at = this.lastServed.get(candidate) ?? -1
        if (at < oldest) {
          oldest = at
          peerId = candidate
        }
      }
      const list = this.waiting.get(peerId as string) as Waiter[]
      const waiter = list.shift() as Waiter
      if (list.length === 0) this.waiting.delete(peerId as string)
      this.markServed(peerId as string)
      this.queued--
      this.running++
      waiter.grant(this.releaser())
    }
  }

  private markServed(peerId: string): void {
    this.lastServed.delete(peerId)
    this.lastServed.set(peerId, this.served++)
    // Bounded memory: forget the least recently served peers that are not waiting.
    if (this.lastServed.size > MAX_REMEMBERED_PEERS) {
      for (const candidate of this.lastServed.keys()) {
        if (this.lastServed.size <= MAX_REMEMBERED_PEERS / 2) break
        if (!this.waiting.has(candidate)) this.lastServed.delete(candidate)
      }
    }
  }
}
