/**
 * The forward HTTP proxy. A client sends plain HTTP through it (absolute-form `GET http://host/…`,
 * or origin-form with a Host header) with its sealed secrets in Proxy-Tokenizer and its proxy
 * auth in Proxy-Authorization; the proxy opens the secrets, checks auth and host rules, injects,
 * removes both headers, and sends the request on over TLS. CONNECT to a port other than 443 opens
 * a tunnel in which the client speaks plain HTTP to that one host: the CONNECT's secrets apply to
 * every request inside, plus each request's own. Refusals are JSON: {error, code, hint}.
 *
 *   const proxy = new TokenizerProxy({ keys, upstream, logger })
 *   await proxy.listen('127.0.0.1', 4283)
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { HangarError, isHangarError, toHangarError } from '../errors.ts'
import { Draft, endToEnd } from './draft.ts'
import type { Step } from './processors.ts'
import { targetOf, type Target } from './target.ts'
import type { Unsealer } from './unseal.ts'
import { upstreamError, type EgressCheck, type Upstream } from './upstream.ts'

export interface ProxyLogger {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface ProxyOptions {
  unsealer: Unsealer
  upstream: Upstream
  logger?: ProxyLogger
  /** Forward requests that carry no sealed secret (superfly's OPEN_PROXY); default false. */
  openProxy?: boolean
  /** Request head limit; past it, 431. Default 16 KiB. */
  maxHeaderBytes?: number
  /** The most body a processor that reads it (HMAC, placeholders, SigV4) may hold; past it, 413. Default 8 MiB. */
  maxBodyBytes?: number
  /** The sender's own egress policy for a host, by its source address (a machine's app rules); default none. */
  egress?: (source: string, hostname: string) => EgressCheck
}

/** A CONNECT tunnel: every request inside goes to its target and gets its steps. */
interface Tunnel {
  target: Target
  steps: Step[]
  secrets: Record<string, unknown>[]
  egress: EgressCheck
}

const quiet: ProxyLogger = { debug() {}, info() {}, warn() {} }

function errorJson(e: HangarError): string {
  return JSON.stringify({ error: `${e.grpcClass}: ${e.message}`, code: e.code, hint: e.hint, ...(e.details ? { details: e.details } : {}) })
}

function errorHeaders(e: HangarError, body: string): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    ...(e.status === 407 ? { 'Proxy-Authenticate': 'Bearer realm="tokenizer"' } : {}),
  }
}

/** An error answer written straight onto a socket (CONNECT refusals, unparsable requests); the socket is closed after. */
function rawError(socket: Duplex, e: HangarError): void {
  if (!socket.writable) return void socket.destroy()
  const body = errorJson(e)
  const head = Object.entries({ ...errorHeaders(e, body), Connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  socket.end(`HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? ''}\r\n${head}\r\n${body}`)
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > max) return Promise.reject(new HangarError('payload_too_large', `the body is ${declared} bytes; a processor that reads it takes at most ${max}`))
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) {
        req.removeAllListeners('data')
        req.resume()
        reject(new HangarError('payload_too_large', `the body is over ${max} bytes; a processor that reads it takes at most ${max}`))
      } else parts.push(c)
    })
    req.once('end', () => resolve(Buffer.concat(parts)))
    req.once('error', reject)
  })
}

const plainHint = 'send plain http:// requests through the tokenizer (http_proxy), not https://; it speaks TLS to the upstream itself'

export class TokenizerProxy {
  #o: Required<Omit<ProxyOptions, 'logger' | 'egress'>> & Pick<ProxyOptions, 'egress'> & { logger: ProxyLogger }
  #servers: Server[] = []
  #tunnels = new WeakMap<Socket | Duplex, Tunnel>()

  constructor(opts: ProxyOptions) {
    this.#o = { openProxy: false, maxHeaderBytes: 16 * 1024, maxBodyBytes: 8 * 2 ** 20, logger: quiet, ...opts }
  }

  /** Listens on one more address (loopback, a network's gateway); resolves with the port bound. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = createServer({ maxHeaderSize: this.#o.maxHeaderBytes, headersTimeout: 10_000, requestTimeout: 300_000 })
    server.on('request', (req, res) => void this.#request(req, res))
    server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#connect(server, req, socket, head))
    server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => rawError(socket, new HangarError('tokenizer_bad_request', 'the tokenizer does not carry protocol upgrades (WebSocket)', { hint: 'send ordinary HTTP requests through it' })))
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const e = err.code === 'HPE_HEADER_OVERFLOW'
        ? new HangarError('tokenizer_header_too_large', `the request head is over ${this.#o.maxHeaderBytes} bytes`)
        : new HangarError('tokenizer_bad_request', `the request is not HTTP/1.1 the tokenizer can read (${err.code ?? 'parse error'})`, { hint: plainHint })
      rawError(socket, e)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.#servers.push(server)
    return server.address() as AddressInfo
  }

  /** Where a request goes and the path to ask for there. */
  #targetOf(req: IncomingMessage, tunnel: Tunnel | undefined): { target: Target; path: string } {
    const url = req.url ?? ''
    const abs = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(.*)$/is.exec(url)
    if (abs && abs[1]!.toLowerCase() !== 'http') throw new HangarError('tokenizer_bad_request', `the tokenizer cannot read ${abs[1]}:// requests`, { hint: plainHint })
    if (abs && abs[2]!.includes('@')) throw new HangarError('tokenizer_bad_request', 'credentials in the URL are not forwarded', { hint: 'put them in a sealed secret instead' })
    const authority = abs ? abs[2]! : req.headers.host
    const path = abs ? abs[3] || '/' : url
    if (!path.startsWith('/')) throw new HangarError('tokenizer_bad_request', 'the request target is neither http://host/path nor /path', { hint: plainHint })
    if (tunnel) {
      // Inside a tunnel every request goes to the tunnel's host; one naming another would dodge its host rules.
      if (authority !== undefined && authority !== tunnel.target.authority) {
        throw new HangarError('tokenizer_host_not_allowed', `this tunnel goes to ${tunnel.target.authority}, not ${authority}`, { details: { host: authority } })
      }
      return { target: tunnel.target, path }
    }
    if (!authority) throw new HangarError('tokenizer_bad_request', 'the request names no host', { hint: plainHint })
    return { target: targetOf(authority), path }
  }

  async #request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    const tunnel = this.#tunnels.get(req.socket)
    const log: Record<string, unknown> = { source: req.socket.remoteAddress, method: req.method }
    try {
      const { target, path } = this.#targetOf(req, tunnel)
      log.host = target.authority
      const egress = tunnel ? tunnel.egress : this.#egressOf(req, target)
      const own = this.#o.unsealer.unseal(req.headersDistinct['proxy-tokenizer'], req.headersDistinct['proxy-authorization'], target.authority)
      const steps = [...(tunnel?.steps ?? []), ...own.steps]
      log.secrets = [...(tunnel?.secrets ?? []), ...own.secrets]
      if (!steps.length && !this.#o.openProxy) {
        throw new HangarError('tokenizer_bad_request', 'the request carries no sealed secret (Proxy-Tokenizer header)', { hint: 'seal a secret (POST /v1/tokenizer/seal, `hangar tokenizer seal`) and send it as Proxy-Tokenizer: <sealed>' })
      }
      const draft = new Draft(req.method ?? 'GET', target.hostHeader, path, req.rawHeaders)
      const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
      if (steps.some((s) => s.needsBody)) draft.body = hasBody ? await readBody(req, this.#o.maxBodyBytes) : Buffer.alloc(0)
      for (const s of steps) s.apply(draft)
      await this.#forward(req, res, target, draft, hasBody, egress)
      log.status = res.statusCode
      this.#o.logger.debug({ ...log, ms: Math.round((performance.now() - started) * 100) / 100 }, 'tokenizer forwarded')
    } catch (err) {
      const e = toHangarError(err)
      log.status = e.status
      if (e.status >= 500 && !isHangarError(err)) this.#o.logger.warn({ ...log, err: String(err) }, 'tokenizer failed')
      else this.#o.logger.info({ ...log, code: e.code, reason: e.message }, 'tokenizer refused')
      if (!res.headersSent) {
        const body = errorJson(e)
        res.writeHead(e.status, errorHeaders(e, body)).end(body)
      } else res.destroy()
    }
  }

  /** The sender's egress policy for this host; a refusal by name is thrown before any secret is opened. */
  #egressOf(req: IncomingMessage, target: Target): EgressCheck {
    const e = this.#o.egress?.(req.socket.remoteAddress ?? '', target.hostname) ?? null
    if (e && 'refused' in e) throw new HangarError('tokenizer_target_refused', e.refused, { hint: 'the sender\'s app policy (GET /v1/apps/{app}/policy/network) decides where its machines may go, through the tokenizer too' })
    return e
  }

  #forward(req: IncomingMessage, res: ServerResponse, target: Target, d: Draft, hasBody: boolean, egress: EgressCheck): Promise<void> {
    // Framing: a read body goes with its new length; a streamed one as the client framed it.
    const declared = req.headers['content-length']
    const streamed = d.body === null && hasBody
    const length = d.body !== null ? (hasBody || d.body.length ? d.body.length : null) : streamed && declared !== undefined ? Number(declared) : null
    const up = this.#o.upstream.request(target, d, length, streamed && length === null, egress)
    return new Promise<void>((resolve, reject) => {
      let answered = false
      up.once('error', (err) => {
        if (answered) {
          res.destroy()
          return resolve()
        }
        req.unpipe(up)
        reject(upstreamError(err, target))
      })
      up.once('response', (r) => {
        answered = true
        res.writeHead(r.statusCode ?? 502, r.statusMessage, endToEnd(r.rawHeaders))
        r.pipe(res)
        r.once('error', () => res.destroy())
        r.once('end', () => resolve())
        r.once('close', () => resolve())
      })
      // The client gave up: nothing more to send upstream, nothing to wait for.
      res.once('close', () => {
        if (!res.writableFinished) up.destroy()
        resolve()
      })
      if (d.body !== null) up.end(d.body)
      else if (streamed) {
        req.pipe(up)
        req.once('error', () => up.destroy())
      } else up.end()
    })
  }

  #connect(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const log: Record<string, unknown> = { source: req.socket.remoteAddress, method: 'CONNECT', host: req.url }
    try {
      const target = targetOf(req.url ?? '')
      const egress = this.#egressOf(req, target)
      const { steps, secrets } = this.#o.unsealer.unseal(req.headersDistinct['proxy-tokenizer'], req.headersDistinct['proxy-authorization'], target.authority)
      this.#tunnels.set(socket, { target, steps, secrets, egress })
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n')
      if (head.length) socket.unshift(head)
      // The tunnel's bytes are plain HTTP requests: the same server parses them.
      server.emit('connection', socket)
      this.#o.logger.debug({ ...log, secrets }, 'tokenizer tunnel open')
    } catch (err) {
      const e = toHangarError(err)
      this.#o.logger.info({ ...log, code: e.code, reason: e.message }, 'tokenizer refused')
      rawError(socket, e)
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve())
      s.closeAllConnections()
    })))
    this.#servers = []
  }
}
