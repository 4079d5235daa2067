/**
 * The queue in front of the backend: at most `concurrency` requests run at once; waiting ones
 * are served round-robin across peers, so one guest flooding the host delays itself, not the
 * others (each peer's own requests stay in order).
 */
import { TooManyRequestsError } from '../codec/errors.ts'

export interface FairQueueInit {
  /** Requests run at once. */
  concurrency: number
  /** Requests waiting at once, over all peers; beyond it `TOO_MANY_REQUESTS`. */
  maxQueued: number
}

interface Waiter {
  grant(release: () => void): void
  reject(reason: unknown): void
}

export class FairQueue {
  private readonly init: FairQueueInit
  /** Waiting requests by peer. Map order is the rotation: served peers move to the back. */
  private readonly waiting = new Map<string, Waiter[]>()
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
    while (this.running < this.init.concurrency) {
      const next = this.waiting.entries().next()
      if (next.done === true) return
      const [peerId, list] = next.value
      const waiter = list.shift() as Waiter
      // Move this peer behind everyone else who is waiting: round-robin.
      this.waiting.delete(peerId)
      if (list.length > 0) this.waiting.set(peerId, list)
      this.queued--
      this.running++
      waiter.grant(this.releaser())
    }
  }
}
