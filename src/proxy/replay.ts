/**
 * fly-replay: a machine answers with `fly-replay: instance=<id>` (or
 * `elsewhere=true`, `app=`, `prefer_instance=`) and the proxy sends the same
 * request there instead, adding `fly-replay-src`. To resend a body the proxy
 * keeps references to the chunks it already streamed, up to 1 MB (Fly's limit);
 * past that it keeps nothing and a replay is refused with a 502 saying so.
 */
import type { Readable } from 'node:stream'
import { once } from 'node:events'
import { choose, healthy, pinned } from './balance.ts'
import { RouteError, type Route } from './route-table.ts'
import { appRoutes, settle, type Leaving, type TargetDeps } from './target.ts'
import type { CacheRequest } from './replay-cache.ts'

export const REPLAY_BODY_LIMIT = 1 << 20
/** Replays one request may go through before the proxy calls it a loop. */
export const MAX_REPLAYS = 3

/** The request body as streamed so far, kept for a possible replay. */
export class BodyCapture {
  readonly #chunks: Buffer[] = []
  #size = 0
  overflow = false

  /** Starts keeping `req`'s body; a request without a body costs nothing. */
  constructor(req: Readable, hasBody: boolean) {
    if (!hasBody) return
    const onData = (c: Buffer): void => {
      this.#size += c.length
      if (this.#size > REPLAY_BODY_LIMIT) {
        this.overflow = true
        this.#chunks.length = 0
        req.off('data', onData)
      } else this.#chunks.push(c)
    }
    req.on('data', onData)
  }

  /** The whole body, once the client has sent all of it. */
  async body(req: Readable & { complete: boolean }): Promise<Buffer> {
    if (!req.complete) await once(req, 'end')
    return Buffer.concat(this.#chunks)
  }
}

export interface ReplayDirective {
  instance?: string
  prefer_instance?: string
  app?: string
  elsewhere?: boolean
  state?: string
  region?: string
  /** What the origin gets when the replay cannot be delivered. */
  fallback?: 'prefer_self' | 'force_self'
  /** JSON form only: how the replayed request differs from the original. */
  transform?: { path?: string; delete_headers?: string[]; set_headers?: { name: string; value: string }[] }
  /** What the replay asks of the replay cache (replay-cache.ts): `fly-replay-cache*` headers, or the JSON form's `cache`. */
  cache?: CacheRequest
}

/** The JSON form's content type; its body holds the directive. */
export const REPLAY_JSON = 'application/vnd.fly.replay+json'
/** The most of a JSON directive the proxy reads. */
export const REPLAY_JSON_LIMIT = 64 * 1024

const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Validates the JSON form's body (`{"instance": "…", "transform": {"path": "/x", …}}`); throws saying what is wrong. */
export function parseReplayJson(v: unknown): ReplayDirective {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected an object')
  const o = v as Record<string, unknown>
  const d: ReplayDirective = {}
  for (const k of ['instance', 'prefer_instance', 'app', 'state', 'region'] as const) {
    const x = o[k]
    if (x === undefined || x === null) continue
    if (typeof x !== 'string') throw new Error(`${k} must be a string`)
    if (x !== '' || k === 'state') d[k] = x
  }
  if (o.elsewhere !== undefined && typeof o.elsewhere !== 'boolean') throw new Error('elsewhere must be a boolean')
  if (o.elsewhere === true) d.elsewhere = true
  if (o.fallback !== undefined && o.fallback !== null) {
    if (o.fallback !== 'prefer_self' && o.fallback !== 'force_self') throw new Error('fallback must be "prefer_self" or "force_self"')
    d.fallback = o.fallback
  }
  const c = o.cache
  if (c !== undefined && c !== null) {
    if (typeof c !== 'object' || Array.isArray(c)) throw new Error('cache must be an object')
    const cr = c as Record<string, unknown>
    if (cr.prefix !== undefined && typeof cr.prefix !== 'string') throw new Error('cache.prefix must be a string like "/some/path/*"')
    if (cr.ttl !== undefined && typeof cr.ttl !== 'number') throw new Error('cache.ttl must be a number of seconds')
    if (cr.invalidate !== undefined && typeof cr.invalidate !== 'boolean') throw new Error('cache.invalidate must be a boolean')
    const bypass = o.allow_bypass ?? cr.allow_bypass
    if (bypass !== undefined && typeof bypass !== 'boolean') throw new Error('allow_bypass must be a boolean')
    d.cache = cr.invalidate === true ? { invalidate: true } : { prefix: cr.prefix as string | undefined, ttl: cr.ttl as number | undefined, allowBypass: bypass === true }
  }
  const t = o.transform
  if (t !== undefined && t !== null) {
    if (typeof t !== 'object' || Array.isArray(t)) throw new Error('transform must be an object')
    const tr = t as Record<string, unknown>
    d.transform = {}
    if (tr.path !== undefined) {
      if (typeof tr.path !== 'string' || !tr.path.startsWith('/') || /[\s\x00-\x1f]/.test(tr.path)) throw new Error('transform.path must be a path starting with /')
      d.transform.path = tr.path
    }
    if (tr.delete_headers !== undefined) {
      if (!Array.isArray(tr.delete_headers) || !tr.delete_headers.every((n) => typeof n === 'string' && token.test(n))) throw new Error('transform.delete_headers must be header names')
      d.transform.delete_headers = tr.delete_headers as string[]
    }
    if (tr.set_headers !== undefined) {
      const ok = Array.isArray(tr.set_headers) && tr.set_headers.every((h) => typeof h === 'object' && h !== null && typeof h.name === 'string' && token.test(h.name) && typeof h.value === 'string' && !/[\r\n\x00]/.test(h.value))
      if (!ok) throw new Error('transform.set_headers must be [{name, value}] with valid header names and values')
      d.transform.set_headers = (tr.set_headers as { name: string; value: string }[]).map((h) => ({ name: h.name, value: h.value }))
    }
  }
  return d
}

/** Parses `instance=abc;state="x";elsewhere=true` (quoted values may hold `;` and `,`). */
export function parseReplay(header: string): ReplayDirective {
  const out: Record<string, string> = {}
  const re = /\s*([a-z_]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?/gy
  for (let m = re.exec(header); m; m = re.exec(header)) {
    const v = (m[2] as string).trim()
    out[m[1] as string] = v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v
    if (re.lastIndex >= header.length) break
  }
  const d: ReplayDirective = {}
  if (out.instance) d.instance = out.instance
  if (out.prefer_instance) d.prefer_instance = out.prefer_instance
  if (out.app) d.app = out.app
  if (out.elsewhere === 'true') d.elsewhere = true
  if (out.state !== undefined) d.state = out.state
  if (out.region) d.region = out.region
  if (out.fallback === 'prefer_self' || out.fallback === 'force_self') d.fallback = out.fallback
  return d
}

/** The machine a replay goes to, already counted in flight (and woken if it slept); `client` leaving takes it out of a queue. */
export function replayTarget(d: TargetDeps, src: Pick<Route, 'id' | 'app'>, r: ReplayDirective, client?: Leaving): Route | Promise<Route> {
  const app = r.app ?? src.app
  if (r.instance) {
    const m = d.routes.machine(r.instance)
    if (!m || m.app !== app) throw new RouteError(502, `machine ${src.id} asked to replay to ${r.instance}, which is not a machine of app ${app}`)
    return settle(d, pinned(m), { app, attempt: () => pinned(m), client })
  }
  const routes = appRoutes(d, app)
  if (r.prefer_instance) {
    const m = d.routes.machine(r.prefer_instance)
    const choice = m && m.app === app && healthy(m) ? pinned(m) : undefined
    // At its hard_limit, failing its checks or unable to start, the preferred machine is passed over (the target is told: fly-preferred-instance-unavailable).
    if (choice && (choice.kind === 'route' || choice.kind === 'wake')) return settle(d, choice)
  }
  // One host is one region: region= replays land on any machine of the app, the source included unless elsewhere=true.
  const exclude = r.elsewhere ? src.id : undefined
  return settle(d, choose(app, routes, exclude), { app, attempt: () => choose(app, d.routes.app(app) ?? [], exclude), client })
}

/** The fly-replay-src header the replayed request carries. */
export function replaySource(src: Route, region: string, state: string | undefined): string {
  const t = BigInt(Date.now()) * 1000n
  return `instance=${src.id};region=${region};t=${t}${state !== undefined ? `;state=${state}` : ''}`
}
