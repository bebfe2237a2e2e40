/**
 * Runs tasks one at a time per key, in arrival order: the per-machine lock that
 * keeps concurrent start/stop/update requests from interleaving.
 */
export class KeyedQueue {
  #tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve()
    const next = prev.then(task, task)
    const tail = next.catch(() => {})
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return next
  }

  busy(key: string): boolean {
    return this.#tails.has(key)
  }
}
