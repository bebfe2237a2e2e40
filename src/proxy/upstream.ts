/**
 * Connections to machines: one undici Pool per `<private_ip>:<port>`, kept
 * alive between requests. undici's client is the proxy's cheapest path to a
 * machine (node:http's ClientRequest + Agent cost ~40 % more CPU per request
 * in profiles). Pools nobody used for a minute are closed.
 */
import { Pool, buildConnector } from 'undici'
import type { Socket } from 'node:net'
import { lenientHeads } from './bare-lf.ts'

/** Connections per machine; requests past it wait in the pool (hard_limit caps them first). */
const CONNECTIONS = 256
/**
 * A machine has this long to send its response head (a long poll waiting longer gets a 502).
 * Its body has no idle limit (undici's default is 300 s): an event stream may be quiet for
 * hours, and it ends when the machine or the client closes it.
 */
const HEAD_TIMEOUT_MS = 300_000
const IDLE_MS = 60_000

type Entry = { pool: Pool; used: number }

export class Upstreams {
  // host → port → pool: two lookups, no key string built per request.
  readonly #pools = new Map<string, Map<number, Entry>>()
  readonly #timer: NodeJS.Timeout
  readonly #connect: buildConnector.connector
  /** Shared clock, updated by the sweep: no Date.now() per request. */
  #now = Date.now()

  constructor() {
    this.#timer = setInterval(() => this.#sweep(), IDLE_MS / 4)
    this.#timer.unref()
    const connect = buildConnector({})
    this.#connect = (opts, cb) =>
      connect(opts, (err, socket) => {
        if (socket) (socket as Socket).setNoDelay(true)
        cb(err as Error, (socket ? lenientHeads(socket as Socket) : null) as never)
      })
  }

  /** The pool for a machine address. */
  get(host: string, port: number): Pool {
    let ports = this.#pools.get(host)
    if (!ports) this.#pools.set(host, (ports = new Map()))
    let p = ports.get(port)
    if (!p) {
      const pool = new Pool(`http://${host.includes(':') ? `[${host}]` : host}:${port}`, { connections: CONNECTIONS, pipelining: 1, connect: this.#connect, headersTimeout: HEAD_TIMEOUT_MS, bodyTimeout: 0 })
      ports.set(port, (p = { pool, used: this.#now }))
    }
    p.used = this.#now
    return p.pool
  }

  #sweep(): void {
    this.#now = Date.now()
    for (const [host, ports] of this.#pools) {
      for (const [port, p] of ports) {
        const s = p.pool.stats
        if (this.#now - p.used > IDLE_MS && s.running === 0 && s.pending === 0) {
          ports.delete(port)
          void p.pool.close()
        }
      }
      if (ports.size === 0) this.#pools.delete(host)
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
    const all = [...this.#pools.values()].flatMap((ports) => [...ports.values()])
    this.#pools.clear()
    await Promise.all(all.map((p) => p.pool.destroy()))
  }
}
