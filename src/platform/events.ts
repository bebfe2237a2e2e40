/**
 * The per-machine event log and the in-memory change feed built on it. Every
 * state change goes through `transition`, so the row, the event and the
 * notification to waiters (and later the proxy) can never disagree.
 */
import { EventEmitter } from 'node:events'
import type { EventRow, MachineRow, Store } from '../store/index.ts'
import { ulid } from '../lib/ids.ts'

export type EventSource = 'user' | 'flyd'

export interface MachineEventView {
  id: string
  type: string
  status: string
  source: string
  timestamp: number
  request?: Record<string, unknown>
}

export interface StateChange {
  machine: MachineRow
  event: EventRow | null
}

export class MachineEvents {
  readonly #store: Store
  readonly #feed = new EventEmitter()

  constructor(store: Store) {
    this.#store = store
    this.#feed.setMaxListeners(0)
  }

  /** Sets the machine's state (and any other columns) and, when `event` is given, appends it; one transaction. */
  transition(
    id: string,
    state: string,
    event?: { type: string; source: EventSource; request?: Record<string, unknown> },
    patch: Partial<Omit<MachineRow, 'id' | 'app_name' | 'created_at' | 'state'>> = {},
  ): MachineRow {
    const now = Date.now()
    const { machine, row } = this.#store.tx(() => {
      const machine = this.#store.machines.update(id, { ...patch, state, updated_at: new Date(now).toISOString() })
      const row = event ? this.#append(id, event.type, state, event.source, now, event.request) : null
      return { machine, row }
    })
    this.#feed.emit('change', { machine, event: row } satisfies StateChange)
    return machine
  }

  /** Appends an event without changing state (e.g. an exit that a restart follows). */
  record(id: string, type: string, status: string, source: EventSource, request?: Record<string, unknown>, timestamp = Date.now()): void {
    const row = this.#append(id, type, status, source, timestamp, request)
    const machine = this.#store.machines.get(id)
    if (machine) this.#feed.emit('change', { machine, event: row } satisfies StateChange)
  }

  #append(id: string, type: string, status: string, source: EventSource, timestamp: number, request?: Record<string, unknown>): EventRow {
    return this.#store.events.insert({ id: ulid(timestamp), machine_id: id, type, status, source, timestamp, request: request ?? null })
  }

  list(id: string, limit = 20): MachineEventView[] {
    return this.#store.events.list(id, limit).map(toView)
  }

  /** Subscribes to every state change and event; returns the unsubscribe function. */
  subscribe(fn: (c: StateChange) => void): () => void {
    this.#feed.on('change', fn)
    return () => this.#feed.off('change', fn)
  }
}

export function toView(e: EventRow): MachineEventView {
  return { id: e.id, type: e.type, status: e.status, source: e.source, timestamp: e.timestamp, ...(e.request ? { request: e.request } : {}) }
}
