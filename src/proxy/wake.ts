/**
 * Autostart and autostop. Autostart starts a machine through the platform (so
 * its events, leases and lock all apply) and holds the request until the
 * service's port accepts a connection. Autostop is a periodic pass that stops
 * (or suspends) machines with nothing in flight or open on any service
 * (RouteTable.idle: requests, upgraded, bound client and raw TCP connections)
 * for the idle period.
 */
import { connect } from 'node:net'
import type { Logger } from 'pino'
import { toHangarError } from '../errors.ts'
import { RouteError, type ProxyPlatform, type Route, type RouteTable } from './route-table.ts'

export interface WakeOptions {
  platform: ProxyPlatform
  routes: RouteTable
  logger: Logger
  /** How long a request waits for a machine to start and accept connections. */
  wakeTimeoutMs: number
  /** How long a machine must carry nothing before autostop takes it. */
  idleMs: number
}

export class Waker {
  readonly #o: WakeOptions
  // Concurrent requests for one sleeping machine share one start.
  readonly #pending = new Map<string, Promise<void>>()
  readonly #timer: NodeJS.Timeout

  constructor(o: WakeOptions) {
    this.#o = o
    // Often enough that a machine stops close to its idle period; Fly's pass runs every few minutes.
    this.#timer = setInterval(() => this.#sweep(), Math.min(15_000, Math.max(100, o.idleMs / 4)))
    this.#timer.unref()
  }

  /** Starts `r` if needed and resolves once its port accepts; rejects with a RouteError (502 failed, 503 too slow). */
  wake(r: Route, requestId?: string): Promise<void> {
    let p = this.#pending.get(r.id)
    if (!p) {
      p = this.#wake(r, requestId).finally(() => this.#pending.delete(r.id))
      this.#pending.set(r.id, p)
    }
    return p
  }

  async #wake(r: Route, requestId: string | undefined): Promise<void> {
    const deadline = Date.now() + this.#o.wakeTimeoutMs
    const t0 = performance.now()
    if (r.state !== 'started' || r.draining) {
      // The request id goes into the machine's start event, so a 502 can be traced to it.
      const started = this.#o.platform.machines.start(r.app, r.id, {}, requestId ? { requestId } : {}).catch((e) => {
        this.#o.logger.error({ machine: r.id, app: r.app, request_id: requestId, err: toHangarError(e).message }, 'proxy: machine failed to start for a request')
        throw new RouteError(502, `machine ${r.id} failed to start: ${toHangarError(e).message}`)
      })
      await before(started, deadline, () => new RouteError(503, `machine ${r.id} did not start within ${this.#o.wakeTimeoutMs} ms`))
    }
    // The change feed is synchronous: by now the table says what the start did.
    if (r.state !== 'started' || !r.host) throw new RouteError(502, `machine ${r.id} is ${r.state} after its start`)
    await waitForPort(r.host, r.service.port, deadline).catch(() => {
      throw new RouteError(503, `machine ${r.id} started but nothing accepted connections on port ${r.service.port} within ${this.#o.wakeTimeoutMs} ms`)
    })
    this.#o.logger.info({ machine: r.id, app: r.app, ms: Math.round(performance.now() - t0) }, 'proxy: woke machine for a request')
  }

  /** One autostop pass: at most one machine per app, never below min_machines_running. */
  #sweep(): void {
    const now = Date.now()
    for (const app of this.#o.routes.apps()) {
      const routes = this.#o.routes.app(app) ?? []
      const running = routes.filter((r) => r.state === 'started' && !r.draining)
      const idle = running.find(
        (r) => r.service.autostop !== 'off' && this.#o.routes.idle(r) && now - r.lastActive >= this.#o.idleMs && running.length > r.service.minMachinesRunning,
      )
      if (idle) this.#stop(idle)
    }
  }

  #stop(r: Route): void {
    // Set before the first await: no request is routed to it from here on.
    r.draining = true
    const how = r.service.autostop
    const op = how === 'suspend' ? this.#o.platform.machines.suspend(r.app, r.id) : this.#o.platform.machines.stop(r.app, r.id)
    this.#o.logger.info({ machine: r.id, app: r.app, idle_ms: Date.now() - r.lastActive }, `proxy: autostop (${how})`)
    op.catch((e) => this.#o.logger.warn({ machine: r.id, err: toHangarError(e).message }, 'proxy: autostop failed'))
      .finally(() => {
        r.draining = false
      })
  }

  close(): void {
    clearInterval(this.#timer)
  }
}

function before<T>(p: Promise<T>, deadline: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), Math.max(0, deadline - Date.now()))
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves when host:port accepts a TCP connection; retries every 2 ms until the deadline. */
export async function waitForPort(host: string, port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port, timeout: Math.max(1, deadline - Date.now()) })
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
      s.once('timeout', () => {
        s.destroy()
        resolve(false)
      })
    })
    if (ok) return
    if (Date.now() >= deadline) throw new Error(`${host}:${port} did not accept connections`)
    await new Promise((r) => setTimeout(r, 2))
  }
}
