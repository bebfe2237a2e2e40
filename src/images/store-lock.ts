/**
 * The in-process lock between gc and everything that adds to the image store.
 * Writers (an import, a pull, an unpack, a blob publish, a /v2 manifest PUT) hold
 * it shared and run side by side; gc holds it exclusive, so between its mark
 * and its sweep nothing can appear or start leaning on a blob it did not mark
 * (an import that finds a blob already present and skips copying it, say).
 *
 * Writers go first: a shared holder can take it again inside (import → publish)
 * without queueing behind a waiting gc, which runs once no writer is left.
 *
 *   await lock.shared(() => plan.commit())
 *   await lock.exclusive(() => sweep())
 */
export class StoreLock {
  #shared = 0
  #exclusive = false
  #waiters: (() => void)[] = []

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive) await this.#wait()
    this.#shared++
    try {
      return await fn()
    } finally {
      if (--this.#shared === 0) this.#wake()
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive || this.#shared > 0) await this.#wait()
    this.#exclusive = true
    try {
      return await fn()
    } finally {
      this.#exclusive = false
      this.#wake()
    }
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Everyone re-checks; whoever no longer fits waits again. */
  #wake(): void {
    for (const w of this.#waiters.splice(0)) w()
  }
}
