/**
 * Past the hard limit, requests wait instead of failing at once (Fly's proxy
 * queues too): one FIFO per app, bounded in length and in wait. Whenever a
 * machine of the app frees a slot or changes state the waiters are offered a
 * machine again, oldest first; the slot is taken synchronously, so one freed
 * slot goes to exactly one waiter. A full queue or a wait that runs out is a 503.
 */
import type { Choice } from './balance.ts'
import { RouteError } from './route-table.ts'

/** Requests one app may have waiting for a slot. */
export const QUEUE_LIMIT = 100

interface Waiter {
  /** Asks the balancer again; 'full' means keep waiting. */
  attempt: () => Choice
  /** Takes the machine (counts it in flight) and resumes the request. */
  deliver: (c: Choice) => void
  timer: NodeJS.Timeout
}

export class Queues {
  readonly #apps = new Map<string, Waiter[]>()
  readonly #limit: number
  readonly #waitMs: number

  constructor(o: { limit?: number; waitMs: number }) {
    this.#limit = o.limit ?? QUEUE_LIMIT
    this.#waitMs = o.waitMs
  }

  /**
   * Queues a request that found every machine at its hard limit; throws a 503 when
   * the app's queue is full. The returned function takes it out again (its client left).
   */
  wait(app: string, reason: string, attempt: () => Choice, deliver: (c: Choice) => void, fail: (e: Error) => void): () => void {
    let q = this.#apps.get(app)
    if (!q) this.#apps.set(app, (q = []))
    if (q.length >= this.#limit) throw new RouteError(503, `${reason}, and ${q.length} requests are already queued for app ${app} (the limit)`, { busy: true })
    const w: Waiter = {
      attempt,
      deliver,
      timer: setTimeout(() => {
        this.#remove(app, w)
        fail(new RouteError(503, `${reason}; waited ${this.#waitMs} ms in app ${app}'s queue and no slot freed`, { busy: true }))
      }, this.#waitMs),
    }
    q.push(w)
    return () => {
      clearTimeout(w.timer)
      this.#remove(app, w)
    }
  }

  /** Requests waiting for the app (for tests and logs). */
  length(app: string): number {
    return this.#apps.get(app)?.length ?? 0
  }

  /** Something changed for the app (a request ended, a machine started or stopped): hand out what is free, oldest first. */
  kick(app: string): void {
    const q = this.#apps.get(app)
    if (!q) return
    for (let i = 0; i < q.length; ) {
      const w = q[i] as Waiter
      const c = w.attempt()
      if (c.kind === 'full') {
        i++
        continue
      }
      q.splice(i, 1)
      clearTimeout(w.timer)
      w.deliver(c)
    }
    if (q.length === 0) this.#apps.delete(app)
  }

  #remove(app: string, w: Waiter): void {
    const q = this.#apps.get(app)
    if (!q) return
    const i = q.indexOf(w)
    if (i >= 0) q.splice(i, 1)
    if (q.length === 0) this.#apps.delete(app)
  }

  close(): void {
    for (const q of this.#apps.values()) for (const w of q) clearTimeout(w.timer)
    this.#apps.clear()
  }
}
