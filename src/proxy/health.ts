/**
 * Service health checks, Fly's `services[].checks`: each started machine whose
 * HTTP service declares checks is probed on its private address, either a TCP
 * connect to the service port or an HTTP request that must be answered 2xx or
 * 3xx. A check runs every `interval`, the first time `grace_period` after the
 * machine started. A machine failing any check gets no balanced traffic
 * (balance.ts); requests that name it (forced, session, cookie) still reach it.
 * Changes are logged with what the check saw.
 */
import http from 'node:http'
import https from 'node:https'
import { connect } from 'node:net'
import type { Logger } from 'pino'
import type { HealthCheck, Route, RouteTable } from './route-table.ts'

/** One machine's checks since it last started. */
interface Probing {
  epoch: number
  version: string
  due: number[]
  running: boolean[]
  /** What each check saw last time: null when it passed. */
  failing: (string | null)[]
}

const TICK_MS = 100

export class HealthChecks {
  readonly #o: { routes: RouteTable; logger: Logger }
  readonly #probing = new Map<string, Probing>()
  readonly #timer: NodeJS.Timeout

  constructor(o: { routes: RouteTable; logger: Logger }) {
    this.#o = o
    this.#timer = setInterval(() => this.#tick(), TICK_MS)
    this.#timer.unref()
  }

  close(): void {
    clearInterval(this.#timer)
    this.#probing.clear()
  }

  #tick(): void {
    const now = Date.now()
    const seen = new Set<string>()
    for (const r of this.#o.routes.all()) {
      const checks = r.service.checks
      if (checks.length === 0 || r.state !== 'started' || r.host === null) continue
      seen.add(r.id)
      let p = this.#probing.get(r.id)
      // A restart (the epoch moves when it leaves 'started') or a new config starts the checks over.
      if (!p || p.epoch !== r.epoch || p.version !== r.version) {
        p = { epoch: r.epoch, version: r.version, due: checks.map((c) => now + c.graceMs), running: checks.map(() => false), failing: checks.map(() => null) }
        this.#probing.set(r.id, p)
        r.health = null
      }
      for (let i = 0; i < checks.length; i++) if (!p.running[i] && now >= (p.due[i] as number)) this.#run(r, p, i, checks[i] as HealthCheck)
    }
    for (const id of this.#probing.keys()) if (!seen.has(id)) this.#probing.delete(id)
  }

  #run(r: Route, p: Probing, i: number, check: HealthCheck): void {
    p.running[i] = true
    void probe(r.host as string, r.service.port, check).then((failure) => {
      p.running[i] = false
      p.due[i] = Date.now() + check.intervalMs
      // The machine stopped or changed meanwhile: this result is about a machine that is gone.
      if (this.#probing.get(r.id) !== p) return
      p.failing[i] = failure
      const failed = p.failing.find((f) => f !== null) ?? null
      const was = r.health
      r.health = { passing: failed === null, output: failed ?? 'passing' }
      if (was?.passing !== r.health.passing && (was !== null || failed !== null)) {
        const log = { machine: r.id, app: r.app, check: i, output: r.health.output }
        if (failed) this.#o.logger.warn(log, `proxy: machine ${r.id} fails its health check; the balancer passes it over`)
        else this.#o.logger.info(log, `proxy: machine ${r.id} passes its health checks again`)
      }
      // Passing again may free a queued request.
      if (r.health.passing) this.#o.routes.onChange?.(r.app)
    })
  }
}

/** Runs one check: null when it passes, else what it saw. */
export function probe(host: string, port: number, c: HealthCheck): Promise<string | null> {
  return new Promise((resolve) => {
    let settled = false
    const done = (failure: string | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(failure)
    }
    const timer = setTimeout(() => {
      done(`${c.type === 'tcp' ? `TCP connect to port ${port}` : `HTTP ${c.method} ${c.path}`} got no answer within ${c.timeoutMs} ms`)
      cleanup()
    }, c.timeoutMs)
    let cleanup = (): void => {}
    if (c.type === 'tcp') {
      const s = connect({ host, port })
      cleanup = () => s.destroy()
      s.once('connect', () => {
        s.destroy()
        done(null)
      })
      s.once('error', (e) => done(`TCP connect to port ${port}: ${e.message}`))
      return
    }
    const headers = Object.fromEntries(c.headers)
    const req = (c.https ? https : http).request({ host, port, method: c.method, path: c.path, headers, agent: false, rejectUnauthorized: false }, (res) => {
      res.resume()
      const status = res.statusCode ?? 0
      done(status >= 200 && status < 400 ? null : `HTTP ${c.method} ${c.path} answered ${status}`)
    })
    cleanup = () => req.destroy()
    req.once('error', (e) => done(`HTTP ${c.method} ${c.path}: ${e.message}`))
    req.end()
  })
}
