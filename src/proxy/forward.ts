/**
 * The request path shared by every front (HTTP/1.1, HTTPS, HTTP/2): pick the
 * machine, rewrite headers in one pass, send the request over the machine's
 * keep-alive undici pool, stream the answer back (SSE and other unframed bodies
 * get their head flushed at once), and re-send it elsewhere on fly-replay.
 * h2 requests reach the machine as HTTP/1.1; the answer goes back as h2.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { PassThrough } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Logger } from 'pino'
import { errorPage, requestId, responseHead, scanRequest, type Front, type Scanned } from './headers.ts'
import { BodyCapture, MAX_REPLAYS, REPLAY_JSON, REPLAY_JSON_LIMIT, parseReplay, parseReplayJson, replaySource, replayTarget, type ReplayDirective } from './replay.ts'
import { pinned } from './balance.ts'
import { cacheFromHeaders, cacheHost, cachePath } from './replay-cache.ts'
import { RouteError, type Route } from './route-table.ts'
import { appForHost, clientOf, settle, stickyCookie, target, type TargetDeps } from './target.ts'
import type { Upstreams } from './upstream.ts'

export type FrontRequest = IncomingMessage | Http2ServerRequest
export type FrontResponse = ServerResponse | Http2ServerResponse
// Both have the same writeHead/write/flushHeaders; TypeScript can't call through the union.
const asH1 = (res: FrontResponse): ServerResponse => res as ServerResponse

export interface ForwardDeps extends TargetDeps {
  logger: Logger
  region: string
  upstreams: Upstreams
}

export function clientIp(a: string | undefined): string {
  return a?.startsWith('::ffff:') ? a.slice(7) : (a ?? '')
}

/** Logs (502/503 at warn, the rest at debug) and answers with the proxy's error page. */
function failRequest(d: ForwardDeps, res: FrontResponse, e: unknown, id: string, host: string | undefined, path: string | undefined): void {
  const status = e instanceof RouteError ? e.status : 502
  const message = e instanceof Error ? e.message : String(e)
  if (status >= 502) d.logger.warn({ request_id: id, status, host, path }, `proxy: ${message}`)
  else if (d.logger.isLevelEnabled('debug')) d.logger.debug({ request_id: id, status, host, path }, `proxy: ${message}`)
  errorPage(res, status, message, id)
}

/** What one attempt at a machine carries beyond the request itself. */
interface Attempt {
  /** Replays so far. */
  hops: number
  /** The kept body, for a replay or fallback. */
  replayed?: Buffer
  /** A path other than the client's (fly-replay transform.path). */
  path?: string
  /** This is a replay's fallback to its origin: it cannot replay again. */
  fallback?: boolean
  /** The target did not answer: fall back to the origin (fallback=…). */
  onFail?: ((e: RouteError) => void) | undefined
  /** The route is the client connection's slot (concurrency.type connections): the connection releases it when it closes, not this attempt. */
  held?: boolean
  /** The replay cache's part in this attempt: it sent the request here (hit), or the client skipped an entry (bypass). */
  cache?: 'hit' | 'bypass'
  /** The Host the request was routed by (the last one; a request with two is refused), which the replay cache keys on. */
  host: string | undefined
  /** A cache hit: the entry that sent it here, dropped when the target does not answer. */
  dropCache?: () => void
}

// Headers a replay's transform may not touch: framing, routing and what the proxy itself vouches for.
const fixed = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'fly-replay-src', 'fly-replay-cache-status', 'fly-client-ip', 'fly-forwarded-port', 'fly-region', 'fly-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-host', 'x-forwarded-ssl', 'via'])

function stripped(headers: string[], re: RegExp): string[] {
  const h: string[] = []
  for (let i = 0; i < headers.length; i += 2) if (!re.test(headers[i] as string)) h.push(headers[i] as string, headers[i + 1] as string)
  return h
}

/** One attempt's bookkeeping, and its handler for undici: one object per attempt, its methods shared by all. */
class Exchange implements Dispatcher.DispatchHandler {
  readonly d: ForwardDeps
  readonly replayTo: Replayer
  readonly req: FrontRequest
  readonly res: FrontResponse
  readonly route: Route
  readonly id: string
  readonly headers: string[]
  readonly body: BodyCapture
  readonly hasBody: boolean
  readonly x: Attempt
  readonly h1: boolean
  released: boolean
  ctl: Dispatcher.DispatchController | undefined = undefined
  done = false
  gone = false
  replaying = false
  // A JSON replay directive (application/vnd.fly.replay+json) is read whole before acting on it.
  json: Buffer[] | undefined = undefined
  jsonSize = 0
  // The stream handed to undici is ours: aborting it for a replay must not destroy the client's request.
  pipe: PassThrough | undefined = undefined

  constructor(d: ForwardDeps, replayTo: Replayer, req: FrontRequest, res: FrontResponse, route: Route, id: string, headers: string[], body: BodyCapture, hasBody: boolean, x: Attempt) {
    this.d = d
    this.replayTo = replayTo
    this.req = req
    this.res = res
    this.route = route
    this.id = id
    this.headers = headers
    this.body = body
    this.hasBody = hasBody
    this.x = x
    this.h1 = req.httpVersionMajor === 1
    this.released = x.held === true
  }

  /** The client went away first: stop the machine's work on its behalf. */
  readonly onClose = (): void => {
    this.release()
    if (!this.done) {
      this.gone = true
      this.ctl?.abort(new Error('client closed'))
    }
  }

  release(): void {
    if (!this.released) this.d.routes.release(this.route)
    this.released = true
  }

  replay(directive: ReplayDirective): void {
    this.replaying = true
    if (this.pipe) this.req.unpipe(this.pipe)
    this.release()
    void this.replayTo(this.req, this.res, this.route, this.id, this.headers, this.body, this.hasBody, this.x, directive)
  }

  fail(e: RouteError): void {
    this.done = true
    this.release()
    failRequest(this.d, this.res, e, this.id, this.req.headers.host, this.req.url)
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.ctl = c
    if (this.gone) c.abort(new Error('client closed'))
  }

  onResponseStart(c: Dispatcher.DispatchController, status: number, h: IncomingHttpHeaders, message: string): void {
    const res = this.res
    // The front answered already (an h2 stream's 408 for a body that never came): the machine's answer has nowhere to go.
    if (res.headersSent) {
      this.done = true
      c.abort(new Error('answered by the proxy'))
      return
    }
    const type = h['content-type']
    // A fallback to the origin cannot replay again: its answer goes to the client as it is.
    if (!this.x.fallback) {
      const header = h['fly-replay']
      if (typeof header === 'string') {
        // Set first: undici may report the abort (onResponseError) before abort() returns.
        this.replaying = true
        c.abort(new Error('replayed'))
        const directive = parseReplay(header)
        const cache = cacheFromHeaders(h)
        if (cache) directive.cache = cache
        this.replay(directive)
        return
      }
      if (typeof type === 'string' && type.toLowerCase().startsWith(REPLAY_JSON)) {
        this.json = []
        return
      }
    }
    const session = h['mcp-session-id']
    if (typeof session === 'string') {
      // An MCP server ending its session (DELETE → 2xx) frees the mapping.
      if (this.req.method === 'DELETE' && status < 300) this.d.sessions.forget(session)
      else this.d.sessions.remember(session, this.route.id)
    }
    const out = responseHead(h, this.id, stickyCookie(this.route))
    if (this.h1) asH1(res).writeHead(status, message, out)
    else asH1(res).writeHead(status, out)
    // Unframed or event-stream bodies may trickle: the client should see the head now, not with the first byte.
    if (h['content-length'] === undefined || (typeof type === 'string' && type.startsWith('text/event-stream'))) asH1(res).flushHeaders()
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.json) {
      this.json.push(chunk)
      if ((this.jsonSize += chunk.length) > REPLAY_JSON_LIMIT) {
        this.json = undefined
        this.done = true
        c.abort(new Error('replay directive too large'))
        this.fail(new RouteError(502, `machine ${this.route.id} answered with a fly-replay JSON body over ${REPLAY_JSON_LIMIT} bytes`))
      }
      return
    }
    if (!asH1(this.res).write(chunk)) {
      c.pause()
      this.res.once('drain', () => c.resume())
    }
  }

  onResponseEnd(): void {
    if (this.json) {
      let directive: ReplayDirective
      try {
        directive = parseReplayJson(JSON.parse(Buffer.concat(this.json).toString('utf8')))
      } catch (e) {
        this.fail(new RouteError(502, `machine ${this.route.id} answered with an invalid fly-replay JSON body: ${(e as Error).message}`))
        return
      }
      this.replay(directive)
      return
    }
    this.done = true
    this.res.end()
  }

  onResponseError(_c: Dispatcher.DispatchController, e: Error): void {
    this.release()
    // Aborted on purpose: a replay took over, or the client left first.
    if (this.replaying || this.gone || this.done) return
    this.x.dropCache?.()
    const r = this.route
    const err = new RouteError(502, `machine ${r.id} (${r.host}:${r.service.port}) did not answer: ${e.message}`)
    // A replayed request that its target did not answer may fall back to the origin.
    if (this.x.onFail && !this.res.headersSent) {
      this.replaying = true
      this.x.onFail(err)
      return
    }
    this.done = true
    if (this.res.headersSent) this.res.destroy()
    else failRequest(this.d, this.res, err, this.id, this.req.headers.host, this.req.url)
  }
}

type Replayer = (req: FrontRequest, res: FrontResponse, src: Route, id: string, headers: string[], body: BodyCapture, hasBody: boolean, x: Attempt, directive: ReplayDirective) => Promise<void>

/** A request handler for one listener (`front` says its scheme and port). */
export function createForwarder(d: ForwardDeps, front: Front): (req: FrontRequest, res: FrontResponse) => void {
  /** One attempt at a machine: the first, a replay (`x.replayed` holds the kept body) or a replay's fallback to its origin. */
  function forward(req: FrontRequest, res: FrontResponse, route: Route, id: string, headers: string[], body: BodyCapture, hasBody: boolean, x: Attempt): void {
    // The client left while its machine was being found (woken, queued, a replay's target): its 'close' has fired already.
    if (res.destroyed) {
      if (!x.held) d.routes.release(route)
      return
    }
    const e = new Exchange(d, doReplay, req, res, route, id, headers, body, hasBody, x)
    if (!x.replayed && hasBody) req.pipe((e.pipe = new PassThrough()))
    res.on('close', e.onClose)
    d.upstreams.get(route.host as string, route.service.port).dispatch({ method: req.method as Dispatcher.HttpMethod, path: x.path ?? req.url ?? '/', headers, body: x.replayed ?? e.pipe ?? null }, e)
  }

  async function doReplay(req: FrontRequest, res: FrontResponse, src: Route, id: string, headers: string[], body: BodyCapture, hasBody: boolean, x: Attempt, directive: ReplayDirective): Promise<void> {
    const t0 = Date.now()
    const hops = x.hops
    let bytes: Buffer | undefined
    // fallback=prefer_self|force_self: a replay that cannot be delivered goes back to the origin, marked fly-replay-failed.
    const fallBack = (e: unknown): boolean => {
      if (!directive.fallback || !bytes || res.destroyed) return false
      const reason = !(e instanceof RouteError) ? 'retries_exhausted' : /within \d+ ms/.test(e.message) ? 'timeout' : e.status === 502 && /did not answer|failed to start/.test(e.message) ? 'retries_exhausted' : 'no_candidate'
      const h = stripped(headers, /^(fly-replay-src|fly-replay-cache-status|fly-replay-failed|content-length)$/i)
      h.push('fly-replay-failed', `${directive.instance ? `instance=${directive.instance};` : ''}reason=${reason};elapsed_ms=${Date.now() - t0}`)
      if (bytes.length || hasBody) h.push('content-length', String(bytes.length))
      const kept = bytes
      const back = directive.fallback === 'force_self' && src.state === 'started' && src.host && !src.draining ? src : undefined
      const next = back ? (d.routes.acquire(back), back) : settle(d, pinned(src), { app: src.app, attempt: () => pinned(src), client: clientOf(req) })
      Promise.resolve(next).then(
        (r) => forward(req, res, r, id, h, body, hasBody, { hops: hops + 1, replayed: kept, fallback: true, host: x.host }),
        (e2: unknown) => failRequest(d, res, e2, id, req.headers.host, req.url),
      )
      return true
    }
    try {
      if (hops >= MAX_REPLAYS) throw new RouteError(502, `request was replayed ${hops} times (fly-replay); giving up on what looks like a loop`)
      if (body.overflow) throw new RouteError(502, `machine ${src.id} asked to replay this request (fly-replay) but its body is over 1 MB, which cannot be replayed`)
      if (directive.cache) {
        const why = d.replayCache.apply(directive.cache, cacheHost(x.host), cachePath(req.url), directive, src)
        if (why) d.logger.info({ request_id: id, machine: src.id }, `proxy: ${why}; the replay goes ahead, uncached`)
      }
      bytes = await body.body(req)
      if (res.destroyed) return
      let next: Route
      try {
        next = await replayTarget(d, src, directive, clientOf(req))
      } catch (e) {
        if (fallBack(e)) return
        throw e
      }
      // The same headers, with the replay source and the exact length of the kept body, transformed as the directive asks.
      const t = directive.transform
      const drop = new Set(['fly-replay-src', 'fly-replay-cache-status', 'fly-preferred-instance-unavailable', 'content-length', ...(t?.delete_headers ?? []).map((n) => n.toLowerCase()).filter((n) => !fixed.has(n))])
      const set = (t?.set_headers ?? []).filter((s) => !fixed.has(s.name.toLowerCase()))
      for (const s of set) drop.add(s.name.toLowerCase())
      const h: string[] = []
      for (let i = 0; i < headers.length; i += 2) {
        if (!drop.has((headers[i] as string).toLowerCase())) h.push(headers[i] as string, headers[i + 1] as string)
      }
      for (const s of set) h.push(s.name, s.value)
      h.push('fly-replay-src', replaySource(src, d.region, directive.state), 'fly-replay-cache-status', x.cache === 'bypass' ? 'bypass' : 'miss')
      if (directive.prefer_instance && next.id !== directive.prefer_instance) h.push('fly-preferred-instance-unavailable', directive.prefer_instance)
      if (bytes.length || hasBody) h.push('content-length', String(bytes.length))
      // Only a bypass carries on: a hit's target that replays again is an ordinary replay (miss).
      const cache = x.cache === 'bypass' ? x.cache : undefined
      forward(req, res, next, id, h, body, hasBody, { hops: hops + 1, replayed: bytes, path: t?.path ?? x.path, onFail: directive.fallback ? (e) => void fallBack(e) : undefined, host: x.host, cache })
    } catch (e) {
      failRequest(d, res, e, id, req.headers.host, req.url)
    }
  }

  function settled(req: FrontRequest, res: FrontResponse, route: Route, id: string, headers: string[], hasBody: boolean, x: Attempt): void {
    // Capture starts in the same tick as the pipe to the machine: a 'data' listener alone would let chunks flow past it.
    forward(req, res, route, id, headers, new BodyCapture(req, hasBody), hasBody, x)
  }

  /**
   * A request under a live fly-replay-cache entry goes straight to the replay's target, marked
   * `fly-replay-cache-status: hit`, without fly-replay-src. Returns false to route it as usual: no
   * entry, two Host headers (target() refuses them), a machine named by the request itself (forced, preferred, or its MCP session's), a bypass the app
   * allowed, or a target that is gone or cannot start (the entry is dropped and the app asked again).
   */
  function fromCache(req: FrontRequest, res: FrontResponse, s: Scanned, hasBody: boolean): boolean {
    if (s.twoHosts || s.forced !== undefined || s.prefer !== undefined || (s.session !== undefined && d.sessions.get(s.session) !== undefined)) return false
    const host = cacheHost(s.host)
    const path = cachePath(req.url)
    const e = d.replayCache.lookup(host, path)
    if (!e) return false
    const drop = (): void => d.replayCache.invalidate(host, path)
    // Only the app this host routes to may have set its entries (a safeguard: entries are keyed by the routing host).
    if (e.origin.app !== appForHost(d, s.host)) {
      drop()
      return false
    }
    if (s.skipCache && e.allowBypass) {
      s.cache = 'bypass'
      return false
    }
    let r: Route | Promise<Route>
    try {
      r = replayTarget(d, e.origin, e.directive, clientOf(req))
    } catch (err) {
      if (err instanceof RouteError && err.busy) {
        failRequest(d, res, err, s.id, s.host, req.url)
        return true
      }
      drop()
      return false
    }
    s.headers.push('fly-replay-cache-status', 'hit')
    const x: Attempt = { hops: 1, cache: 'hit', host: s.host, dropCache: drop }
    if (!(r instanceof Promise)) settled(req, res, r, s.id, s.headers, hasBody, x)
    else {
      r.then(
        (route) => settled(req, res, route, s.id, s.headers, hasBody, x),
        (err: unknown) => {
          // The client left while the target woke or queued: nothing to answer, and the entry is still good.
          if (res.destroyed || (err instanceof RouteError && err.status === 499)) return
          // Busy is not gone: this request gets the 503, the entry stays.
          if (err instanceof RouteError && err.busy) return failRequest(d, res, err, s.id, s.host, req.url)
          // The target could not be started: the body has not been read yet, so the app gets the request as usual.
          s.headers.length -= 2
          drop()
          routed(req, res, s, hasBody)
        },
      )
    }
    return true
  }

  function routed(req: FrontRequest, res: FrontResponse, s: Scanned, hasBody: boolean): void {
    const id = s.id
    let r: Route | Promise<Route>
    try {
      r = target(d, s, req)
    } catch (e) {
      failRequest(d, res, e, id, s.host, req.url)
      return
    }
    // Routing has set s.held (type connections: the client connection holds the machine) and s.preferMissed
    // (a fly-prefer-instance-id it could not honour, which the machine is told) by the time the route is known.
    const go = (route: Route): void => {
      // A connection bound to the preferred machine lands there anyway: nothing was missed then.
      if (s.preferMissed !== undefined && route.id !== s.preferMissed) s.headers.push('fly-preferred-instance-unavailable', s.preferMissed)
      settled(req, res, route, id, s.headers, hasBody, { hops: 0, held: s.held, cache: s.cache, host: s.host })
    }
    if (!(r instanceof Promise)) go(r)
    else r.then(go, (e: unknown) => failRequest(d, res, e, id, s.host, req.url))
  }

  return function onRequest(req, res) {
    const id = requestId(d.region)
    const s = scanRequest(req.rawHeaders, front, { id, region: d.region, clientIp: clientIp(req.socket.remoteAddress), upgrade: false })
    // h1 says whether a body follows in its head; an h2 stream says so by not ending with its HEADERS frame.
    const hasBody = req.httpVersionMajor === 1 ? s.body : !(req as Http2ServerRequest).stream.endAfterHeaders
    if (d.replayCache.size !== 0 && fromCache(req, res, s, hasBody)) return
    routed(req, res, s, hasBody)
  }
}

