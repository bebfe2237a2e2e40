/**
 * Replay caching, as Fly's proxy does it: an app that answers with a
 * fly-replay and `fly-replay-cache: [host]/path/*` plus
 * `fly-replay-cache-ttl-secs: N` (N ≥ 10) lets later requests for that host and
 * path go straight to the replay's target for N seconds, without asking the
 * app again. The target can drop the entry by replaying back with
 * `fly-replay-cache: invalidate`; a client can skip it with
 * `fly-replay-cache-control: skip` when the app allowed that
 * (`fly-replay-cache-allow-bypass: yes`). It is an optimisation: an entry whose
 * target is gone is dropped and the app is asked again.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { ReplayDirective } from './replay.ts'

/** What a replay asks of the cache (header or JSON form). */
export interface CacheRequest {
  /** `[host]/path/*`: the host and path prefix later requests are matched on. */
  prefix?: string
  ttl?: number
  invalidate?: boolean
  allowBypass?: boolean
}

/** A cached replay: where requests under `prefix` go, and who said so. */
export interface CachedReplay {
  prefix: string
  directive: ReplayDirective
  /** The app and machine that replayed (a target `elsewhere=true` excludes it; `app` defaults to it). */
  origin: { id: string; app: string }
  allowBypass: boolean
  expires: number
}

/** Fly's floor for a cache TTL. */
const MIN_TTL_S = 10
/** Entries kept at most, all hosts together and per host. */
const MAX_ENTRIES = 10_000
const PER_HOST = 1_000
/** The longest TTL honoured (a longer one is cut to it), and the longest prefix and target names kept. */
const MAX_TTL_S = 86_400
const MAX_PREFIX = 1_024
const MAX_NAME = 128

/** The cache part of a fly-replay answer in header form; undefined when it asks nothing. */
export function cacheFromHeaders(h: IncomingHttpHeaders): CacheRequest | undefined {
  const v = h['fly-replay-cache']
  if (typeof v !== 'string') return undefined
  if (v.trim().toLowerCase() === 'invalidate') return { invalidate: true }
  const ttl = h['fly-replay-cache-ttl-secs']
  const bypass = h['fly-replay-cache-allow-bypass']
  return { prefix: v.trim(), ttl: typeof ttl === 'string' && /^\d+$/.test(ttl.trim()) ? Number(ttl) : Number.NaN, allowBypass: typeof bypass === 'string' && /^(yes|true|1)$/i.test(bypass.trim()) }
}

/** A request's host as the cache keys it: lowercase, without a port. */
export function cacheHost(host: string | undefined): string {
  if (!host) return ''
  const colon = host.lastIndexOf(':')
  return (colon > 0 && host.indexOf(']') < colon ? host.slice(0, colon) : host).toLowerCase()
}

/** The path a request is matched on: its URL without the query. */
export function cachePath(url: string | undefined): string {
  const u = url ?? '/'
  const q = u.indexOf('?')
  return q === -1 ? u : u.slice(0, q)
}

/** The index of the entry that expires first. */
function soonest(list: readonly CachedReplay[]): number {
  let at = 0
  for (let i = 1; i < list.length; i++) if ((list[i] as CachedReplay).expires < (list[at] as CachedReplay).expires) at = i
  return at
}

export class ReplayCache {
  // host → entries, longest prefix first.
  readonly #byHost = new Map<string, CachedReplay[]>()
  #count = 0

  get size(): number {
    return this.#count
  }

  /** The entry for a request, if one is live: the longest matching prefix wins. */
  lookup(host: string, path: string, now = Date.now()): CachedReplay | undefined {
    const list = this.#byHost.get(host)
    if (!list) return undefined
    for (let i = 0; i < list.length; i++) {
      const e = list[i] as CachedReplay
      if (!path.startsWith(e.prefix)) continue
      if (e.expires > now) return e
      list.splice(i--, 1)
      this.#count--
    }
    if (list.length === 0) this.#byHost.delete(host)
    return undefined
  }

  /**
   * Applies what a replay asked for the request at `host` + `path`. Returns why
   * a cache request was ignored (for the log), or undefined when it took.
   */
  apply(req: CacheRequest, host: string, path: string, directive: ReplayDirective, origin: { id: string; app: string }, now = Date.now()): string | undefined {
    if (req.invalidate) {
      this.invalidate(host, path)
      return undefined
    }
    const pattern = req.prefix ?? ''
    const slash = pattern.indexOf('/')
    if (slash === -1 || !pattern.endsWith('/*')) return `fly-replay-cache ${JSON.stringify(pattern)} is not [host]/path/* (a path ending in /*)`
    const at = slash === 0 ? host : pattern.slice(0, slash).toLowerCase()
    const prefix = pattern.slice(slash, -1)
    if (at.includes(':')) return `fly-replay-cache ${JSON.stringify(pattern)} names a port; give the host alone`
    if (at !== host || !path.startsWith(prefix)) return `fly-replay-cache ${JSON.stringify(pattern)} does not match this request (${host}${path})`
    if (!Number.isInteger(req.ttl) || (req.ttl as number) < MIN_TTL_S) return `fly-replay-cache-ttl-secs must be a whole number of seconds, at least ${MIN_TTL_S}`
    if (directive.state !== undefined) return 'a cached fly-replay cannot carry state'
    if (directive.transform) return 'a cached fly-replay cannot carry a transform'
    if (prefix.length > MAX_PREFIX) return `fly-replay-cache patterns are at most ${MAX_PREFIX} characters`
    // A hit's target that fails is a 502 that drops the entry: fallback is the app's to apply when it replays itself.
    const { state: _s, transform: _t, cache: _c, fallback: _f, ...target } = directive
    if (Object.values(target).some((v) => typeof v === 'string' && v.length > MAX_NAME)) return `a cached fly-replay names its target in at most ${MAX_NAME} characters`
    const ttl = Math.min(req.ttl as number, MAX_TTL_S)
    this.#put(host, { prefix, directive: target, origin: { id: origin.id, app: origin.app }, allowBypass: req.allowBypass === true, expires: now + ttl * 1000 })
    return undefined
  }

  /** Drops the host's entries that cover `path`. */
  invalidate(host: string, path: string): void {
    const list = this.#byHost.get(host)
    if (!list) return
    const keep = list.filter((e) => !path.startsWith(e.prefix))
    this.#count -= list.length - keep.length
    if (keep.length) this.#byHost.set(host, keep)
    else this.#byHost.delete(host)
  }

  #put(host: string, e: CachedReplay): void {
    const list = this.#byHost.get(host) ?? []
    // Re-inserted below, so the Map's order is the order hosts were last cached.
    this.#byHost.delete(host)
    const same = list.findIndex((x) => x.prefix === e.prefix)
    if (same !== -1) list.splice(same, 1)
    else if (list.length >= PER_HOST) list.splice(soonest(list), 1)
    else this.#count++
    // Past the bound, the hosts cached longest ago go first (a Map keeps insertion order).
    for (const [h, l] of this.#byHost) {
      if (this.#count <= MAX_ENTRIES) break
      if (h === host) continue
      this.#count -= l.length
      this.#byHost.delete(h)
    }
    const at = list.findIndex((x) => x.prefix.length < e.prefix.length)
    list.splice(at === -1 ? list.length : at, 0, e)
    this.#byHost.set(host, list)
  }
}
