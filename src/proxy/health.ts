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
  /** When each check last finished (ms), null before its first run. */
  at: (number | null)[]
}

/** One check's latest result, in the shape of Fly's Machine `checks[]`. */
export interface CheckStatus {
  name: string
  status: 'passing' | 'warning' | 'critical'
  output: string
  updated_at: string
}

/** Fly names service checks by position, type and port: `servicecheck-00-http-8080`. */
function checkName(i: number, c: HealthCheck, port: number): string {
  return `servicecheck-${String(i).padStart(2, '0')}-${c.type}-${port}`
}

const TICK_MS = 100

export class HealthChecks {
  readonly #o: { routes: RouteTable; logger: Logger }
  readonly #probing = new Map<string, Probing>()
  /** Probes under way, each with its abort: close() ends them. */
  readonly #inFlight = new Set<() => void>()
  readonly #timer: NodeJS.Timeout

  constructor(o: { routes: RouteTable; logger: Logger }) {
    this.#o = o
    this.#timer = setInterval(() => this.#tick(), TICK_MS)
    this.#timer.unref()
  }

  close(): void {
    clearInterval(this.#timer)
    this.#probing.clear()
    for (const abort of this.#inFlight) abort()
    this.#inFlight.clear()
  }

  /** Machine `id`'s checks as last run, for its API view; undefined when its service declares none. */
  status(id: string): CheckStatus[] | undefined {
    const r = this.#o.routes.machine(id)
    if (!r || r.service.checks.length === 0) return undefined
    const p = r.state === 'started' ? this.#probing.get(id) : undefined
    return r.service.checks.map((c, i) => {
      const name = checkName(i, c, r.service.port)
      const at = p?.at[i]
      if (!p || at === null || at === undefined) {
        const output = r.state === 'started' ? 'not run yet: the first run comes after the grace period' : `not running: the machine is ${r.state}, and checks run while it is started`
        return { name, status: 'warning', output, updated_at: new Date(at ?? Date.now()).toISOString() }
      }
      const failure = p.failing[i]
      const what = c.type === 'tcp' ? `TCP connect to port ${r.service.port}` : `HTTP ${c.method} ${c.path}`
      return { name, status: failure ? 'critical' : 'passing', output: failure ?? `${what} passed`, updated_at: new Date(at).toISOString() }
    })
  }

  #tick(): void {
    const now = Date.now()
    const seen = new Set<string>()
    for (const r of this.#o.routes.all()) {
      const checks = r.service.checks
      if (checks.length === 0 || r.state !== 'started' || r.host === null) {
        // Checks removed by an update (or a result that landed as it stopped): nothing holds it out any more.
        if (r.health !== null) r.health = null
        continue
      }
      seen.add(r.id)
      let p = this.#probing.get(r.id)
      // A restart (the epoch moves when it leaves 'started') or a new config starts the checks over.
      if (!p || p.epoch !== r.epoch || p.version !== r.version) {
        p = { epoch: r.epoch, version: r.version, due: checks.map((c) => now + c.graceMs), running: checks.map(() => false), failing: checks.map(() => null), at: checks.map(() => null) }
        this.#probing.set(r.id, p)
        r.health = null
      }
      for (let i = 0; i < checks.length; i++) if (!p.running[i] && now >= (p.due[i] as number)) this.#run(r, p, i, checks[i] as HealthCheck)
    }
    for (const id of this.#probing.keys()) if (!seen.has(id)) this.#probing.delete(id)
  }

  #run(r: Route, p: Probing, i: number, check: HealthCheck): void {
    p.running[i] = true
    const { result, abort } = probe(r.host as string, r.service.port, check)
    this.#inFlight.add(abort)
    void result.then((failure) => {
      this.#inFlight.delete(abort)
      p.running[i] = false
      p.due[i] = Date.now() + check.intervalMs
      // The machine stopped, restarted or changed meanwhile: this result is about a machine that is gone.
      if (this.#probing.get(r.id) !== p || r.state !== 'started' || r.epoch !== p.epoch || r.version !== p.version) return
      p.failing[i] = failure
      p.at[i] = Date.now()
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

/** Runs one check: `result` is null when it passes, else what it saw; it never rejects. `abort` ends it at once. */
export function probe(host: string, port: number, c: HealthCheck): { result: Promise<string | null>; abort: () => void } {
  let end = (_failure: string | null): void => {}
  const result = new Promise<string | null>((resolve) => {
    end = resolve
  })
  let settled = false
  let cleanup = (): void => {}
  const done = (failure: string | null): void => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    // The answer is known: whatever the machine still sends is not wanted (a streaming endpoint would hold the socket).
    cleanup()
    end(failure)
  }
  const what = c.type === 'tcp' ? `TCP connect to port ${port}` : `HTTP ${c.method} ${c.path}`
  const timer = setTimeout(() => done(`${what} got no answer within ${c.timeoutMs} ms`), c.timeoutMs)
  try {
    if (c.type === 'tcp') {
      const s = connect({ host, port })
      cleanup = () => s.destroy()
      s.once('connect', () => done(null))
      s.once('error', (e) => done(`${what}: ${e.message}`))
    } else {
      // A repeated header name is sent once, its values joined, as HTTP allows.
      const headers: Record<string, string> = {}
      for (const [n, v] of c.headers) headers[n] = n in headers ? `${headers[n]}, ${v}` : v
      const req = (c.https ? https : http).request({ host, port, method: c.method, path: c.path, headers, agent: false, rejectUnauthorized: false }, (res) => {
        const status = res.statusCode ?? 0
        done(status >= 200 && status < 400 ? null : `${what} answered ${status}`)
      })
      cleanup = () => req.destroy()
      req.once('error', (e) => done(`${what}: ${e.message}`))
      req.end()
    }
  } catch (e) {
    // node:http refuses some paths and header values outright (a config stored before the API checked them).
    done(`${what} could not be sent: ${(e as Error).message}`)
  }
  return { result, abort: () => done('aborted: the proxy is closing') }
}
