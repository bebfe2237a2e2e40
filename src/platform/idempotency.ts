/**
 * Idempotency keys for create requests: a robot that retries after a timeout or
 * a dropped connection gets the first result back instead of a second machine.
 *   const m = await platform.idempotency.run(`machines.create:${app}`, key, body, () => platform.machines.create(app, body))
 *
 * Results are stored durably (a daemon restart between the two tries still
 * dedupes); retries that arrive while the first call runs wait for it. Failures
 * are not stored, so a retry after an error tries again. Keys live 24 hours.
 */
import { createHash } from 'node:crypto'
import { HangarError, isDiskFull } from '../errors.ts'
import type { Store } from '../store/index.ts'

const keepMs = 24 * 3600_000
const maxKeyLength = 255

/** A stable hash of the request: object keys sorted, so field order does not matter. */
export function fingerprint(request: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical)
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
    return v
  }
  return createHash('sha256').update(JSON.stringify(canonical(request) ?? null)).digest('hex')
}

export function idempotencyService(store: Store) {
  const inFlight = new Map<string, { fingerprint: string; result: Promise<unknown> }>()
  let lastPrune = 0

  function checkKey(key: string): void {
    if (key.length === 0 || key.length > maxKeyLength) {
      throw new HangarError('invalid_argument', `Idempotency-Key must be 1–${maxKeyLength} characters, got ${key.length}`)
    }
  }

  function reused(key: string): HangarError {
    return new HangarError('invalid_argument', `idempotency key "${key}" was already used for a different request`, {
      hint: 'use a new key for a new request; reuse a key only to retry the exact same request',
    })
  }

  return {
    /**
     * Runs `create` once per (scope, key): a later call with the same key and the
     * same request returns the stored result; with a different request it is refused.
     * Without a key, just runs `create`.
     */
    async run<T>(scope: string, key: string | undefined, request: unknown, create: () => Promise<T> | T): Promise<T> {
      if (key === undefined) return create()
      checkKey(key)
      const fp = fingerprint(request)
      const id = `${scope}\n${key}`
      const running = inFlight.get(id)
      if (running) {
        if (running.fingerprint !== fp) throw reused(key)
        return running.result as Promise<T>
      }
      const stored = store.idempotency.get(scope, key)
      if (stored) {
        if (stored.fingerprint !== fp) throw reused(key)
        return JSON.parse(stored.result) as T
      }
      const result = (async () => {
        const value = await create()
        const now = Date.now()
        try {
          if (now - lastPrune > 3600_000) {
            store.idempotency.prune(new Date(now - keepMs).toISOString())
            lastPrune = now
          }
          store.idempotency.put({ scope, key, fingerprint: fp, result: JSON.stringify(value), created_at: new Date(now).toISOString() })
        } catch (e) {
          // The machine exists: answering an error would make the client create another. Without
          // room to remember the key, a retry after this answer is simply not deduplicated.
          if (!isDiskFull(e)) throw e
        }
        return value
      })()
      inFlight.set(id, { fingerprint: fp, result })
      try {
        return await result
      } finally {
        inFlight.delete(id)
      }
    },
  }
}

export type IdempotencyService = ReturnType<typeof idempotencyService>
