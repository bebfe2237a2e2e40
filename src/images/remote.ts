/**
 * A client for one repository on a remote OCI registry, shared by pull and
 * push: it finds the base URL (plain http only for loopback hosts), answers
 * the registry's auth challenge (Docker's bearer token flow or Basic, with or
 * without credentials), and turns failures into HangarErrors that say which
 * registry did what.
 *
 *   const r = new RemoteRepository(parseImageRef('127.0.0.1:4280/test/busybox:1'), { credentials, targets: store.targets })
 *   const res = await r.fetch('GET', '/manifests/1', { headers: { accept } })
 */
import { open } from 'node:fs/promises'
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { Readable } from 'node:stream'
import { fetch as undiciFetch } from 'undici'
import { HangarError, isHangarError } from '../errors.ts'
import type { RemoteTargets } from './targets.ts'
import type { ParsedRef } from './types.ts'

export interface Credentials {
  username: string
  password: string
}

export interface RemoteOptions {
  credentials?: Credentials
  signal?: AbortSignal
}

/** Docker Hub is where a name without a host lives. */
const dockerHubApi = 'registry-1.docker.io'

export class RemoteRepository {
  readonly host: string
  /** The repository path as the registry knows it (Docker Hub's official images get "library/"). */
  readonly name: string
  readonly base: string
  #opts: RemoteOptions
  #targets: RemoteTargets
  #auth: string | null = null
  #scope: string | null = null
  /** The login for #scope, shared by requests made while it runs (a push sends several at once). */
  #loggingIn: Promise<void> = Promise.resolve()

  /** `targets`: where connections may go (targets.ts); every request of this client goes through it. */
  constructor(ref: ParsedRef, opts: RemoteOptions & { targets: RemoteTargets }) {
    this.host = ref.registry ?? dockerHubApi
    this.name = ref.registry === null && !ref.repository.includes('/') ? `library/${ref.repository}` : ref.repository
    // Registries on this machine are plain http (Hangar's own, a test registry); everything else is TLS.
    const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(this.host)
    this.base = `${loopback ? 'http' : 'https'}://${this.host}`
    this.#opts = opts
    this.#targets = opts.targets
  }

  /**
   * A request under /v2/<name>; `path` starts with "/" (or is an absolute upload URL).
   * Authenticates first when the registry asks (bodies are not replayable, so this is done before sending one).
   */
  async fetch(method: string, path: string, init: { headers?: Record<string, string>; body?: BodyInit; push?: boolean } = {}): Promise<Response> {
    const scope = `repository:${this.name}:${init.push ? 'pull,push' : 'pull'}`
    await this.#authorize(scope)
    const url = /^https?:/.test(path) ? path : `${this.base}/v2/${this.name}${path}`
    const headers = this.#withAuth(url, { ...init.headers })
    const res = await this.#send(url, { method, headers, ...(init.body !== undefined ? { body: init.body, duplex: 'half' } : {}) })
    if (res.status === 401) {
      await res.body?.cancel()
      throw this.refused()
    }
    return res
  }

  /**
   * Best effort: asks the registry to drop an upload session this client gave up on (DELETE on its
   * Location), so its partial bytes don't wait for the registry's expiry. Not bound to the push's own
   * signal, which is what aborted the upload; bounded by its own 5 s. Failures are the registry's to expire.
   */
  async cancelUpload(url: string): Promise<void> {
    const headers = this.#withAuth(url, {})
    try {
      const res = await undiciFetch(url, { method: 'DELETE', headers, signal: AbortSignal.timeout(5000), dispatcher: this.#targets.dispatcher })
      await res.body?.cancel()
    } catch {
      /* unreachable or slow: the session expires on its own */
    }
  }

  /**
   * Sends a file as a request body under /v2/<name> (or to an absolute upload URL), streamed with
   * node:http in large reads: fetch's web streams copy and re-chunk every 64 KiB, which costs a push
   * of a big layer most of its CPU. Authenticates first, as fetch() does.
   */
  async sendFile(method: string, path: string, file: { path: string; size: number }, init: { headers?: Record<string, string>; push?: boolean } = {}): Promise<Response> {
    const scope = `repository:${this.name}:${init.push ? 'pull,push' : 'pull'}`
    await this.#authorize(scope)
    const url = new URL(/^https?:/.test(path) ? path : `${this.base}/v2/${this.name}${path}`)
    const headers = this.#withAuth(url.toString(), { ...init.headers, 'content-length': String(file.size) })
    // The same connection check as fetch's dispatcher: the lookup's answers, or the literal address.
    const literal = url.hostname.replace(/^\[|\]$/g, '')
    if (isIP(literal)) this.#targets.check(literal, url.hostname)
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method, headers, lookup: this.#targets.lookup, ...(this.#opts.signal ? { signal: this.#opts.signal } : {}) })
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve)
      req.once('error', reject)
    })
    let res: IncomingMessage
    try {
      // A registry may answer (and close) before reading everything, e.g. a 401 or a 413: its answer wins.
      const sent = sendBody(file.path, file.size, req).catch((e: unknown) => e)
      res = await answered
      await sent
    } catch (e) {
      // Aborted, refused by the targets check, or the file being sent is not what the store says: not the registry's doing.
      if (this.#opts.signal?.aborted || isHangarError(e)) throw e
      throw new HangarError('unavailable', `cannot reach registry ${this.host}: ${(e as Error).message}`, { hint: 'check the host and port, and that the registry is running', cause: e })
    }
    const h = new Headers()
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v)
    const noBody = method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304
    if (noBody) res.resume()
    const out = new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status: res.statusCode ?? 500, headers: h })
    if (out.status === 401) {
      await out.body?.cancel()
      throw this.refused()
    }
    return out
  }

  /** `headers` plus the login's Authorization when `url` is the registry's own origin. */
  #withAuth(url: string, headers: Record<string, string>): Record<string, string> {
    if (this.#auth && this.#sameOrigin(url)) headers.authorization = this.#auth
    return headers
  }

  /** Credentials go only to the registry itself, never to a Location or link it points elsewhere. */
  #sameOrigin(url: string): boolean {
    return new URL(url).origin === new URL(this.base).origin
  }

  /** The error for a response this client did not expect. Only the spec's error JSON is quoted: a body from elsewhere is never echoed. */
  async failure(res: Response, what: string): Promise<HangarError> {
    const text = await res.text().catch(() => '')
    let detail = ''
    try {
      const e = (JSON.parse(text) as { errors?: { code: string; message: string }[] }).errors?.[0]
      if (e) detail = `${e.code}: ${e.message}`
    } catch {
      /* not the spec's JSON */
    }
    const msg = `${this.host} answered ${res.status} to ${what}${detail ? ` (${detail})` : ''}`
    if (res.status === 404) return new HangarError('image_not_found', msg, { hint: `check the name and tag exist on ${this.host}` })
    if (res.status === 401 || res.status === 403) return this.refused(msg)
    if (res.status >= 400 && res.status < 500) return new HangarError('invalid_argument', msg)
    return new HangarError('unavailable', msg, { hint: 'retry later; the registry had a temporary problem' })
  }

  refused(msg = `${this.host} refused the request for ${this.name}`): HangarError {
    return new HangarError('invalid_argument', msg, {
      hint: this.#opts.credentials ? 'check the username and password (for Hangar, any username and an API token)' : 'the registry wants credentials: pass a username and password',
    })
  }

  #authorize(scope: string): Promise<void> {
    if (this.#scope !== scope) {
      this.#scope = scope
      this.#loggingIn = this.#login(scope).catch((e: unknown) => {
        if (this.#scope === scope) this.#scope = null // the next request tries again
        throw e
      })
    }
    return this.#loggingIn
  }

  /** Pings /v2/ and follows the challenge, as docker does: Bearer → token from the realm; Basic → the credentials. */
  async #login(scope: string): Promise<void> {
    this.#auth = null
    const ping = await this.#send(`${this.base}/v2/`, { method: 'GET' })
    await ping.body?.cancel()
    if (ping.status !== 401) return
    const challenge = parseChallenge(ping.headers.get('www-authenticate') ?? '')
    const creds = this.#opts.credentials
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : null
    if (challenge?.scheme === 'basic') {
      if (!basic) throw this.refused()
      this.#auth = basic
      return
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) throw new HangarError('unavailable', `${this.host} sent an auth challenge Hangar cannot answer: ${ping.headers.get('www-authenticate')}`)
    const url = realmUrl(challenge.params.realm, this.base)
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service)
    url.searchParams.set('scope', scope)
    const res = await this.#send(url.toString(), { method: 'GET', headers: basic ? { authorization: basic } : {} })
    if (!res.ok) throw await this.failure(res, `the token request to ${url.origin}`)
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string }
    const token = body.token ?? body.access_token
    if (!token) throw new HangarError('unavailable', `${url.origin} returned no token`)
    this.#auth = `Bearer ${token}`
  }

  async #send(url: string, init: RequestInit & { duplex?: 'half' }): Promise<Response> {
    try {
      return (await undiciFetch(url, { ...(init as object), signal: this.#opts.signal ?? null, dispatcher: this.#targets.dispatcher })) as unknown as Response
    } catch (e) {
      if (this.#opts.signal?.aborted) throw e
      // The targets check refused the connection (undici hands its error on as the cause).
      const cause = (e as { cause?: unknown }).cause
      if (isHangarError(cause)) throw cause
      const why = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message
      throw new HangarError('unavailable', `cannot reach registry ${this.host}: ${why}`, { hint: 'check the host and port, and that the registry is running', cause: e })
    }
  }
}

/** Bytes per read of a file being sent, and how many such buffers take turns. */
const sendChunk = 1 << 20
const sendBuffers = 2

/**
 * Streams the first `size` bytes of a file into `req` and ends it, through a few buffers reused
 * in turn: a buffer is read into again only once the socket has taken its previous contents. A
 * read stream allocates a fresh buffer per read instead, and collecting a gigabyte of those costs
 * a big push a large share of its CPU. A file shorter than `size` destroys the request.
 */
async function sendBody(path: string, size: number, req: ClientRequest): Promise<void> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (e) {
    req.destroy(e as Error)
    throw e
  }
  // A write's callback does not come once the connection is gone (e.g. the registry answered early and closed).
  const gone = new Promise<never>((_, reject) => req.once('close', () => reject(new Error('the connection closed while the body was being sent'))))
  gone.catch(() => {})
  const flushed = (b: Buffer): Promise<void> => Promise.race([new Promise<void>((resolve, reject) => req.write(b, (e) => (e ? reject(e) : resolve()))), gone])
  try {
    const bufs = Array.from({ length: sendBuffers }, () => Buffer.allocUnsafeSlow(Math.min(sendChunk, Math.max(1, size))))
    const writes: (Promise<void> | undefined)[] = []
    let pos = 0
    for (let i = 0; pos < size; i = (i + 1) % sendBuffers) {
      await writes[i] // this buffer's previous contents are with the socket
      const { bytesRead } = await fh.read(bufs[i]!, 0, Math.min(sendChunk, size - pos), pos)
      if (bytesRead === 0) throw new HangarError('internal', `${path} ends at ${pos} bytes, before the ${size} being sent`)
      pos += bytesRead
      writes[i] = flushed(bufs[i]!.subarray(0, bytesRead))
      writes[i]!.catch(() => {})
    }
    await Promise.all(writes)
    await Promise.race([new Promise<void>((resolve) => req.end(resolve)), gone])
  } catch (e) {
    req.destroy(e as Error)
    throw e
  } finally {
    await fh.close()
  }
}

const loopbackHost = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/
const linkLocal = /^(169\.254\.|\[fe80:)/i

/**
 * The token realm a registry names, if it is one Hangar will call: https (plain
 * http only when the registry itself is on loopback), never a link-local address
 * (cloud metadata services live there). The registry picks this URL, so it must
 * not turn the daemon into a way to reach arbitrary hosts.
 */
function realmUrl(realm: string, base: string): URL {
  let url: URL
  try {
    url = new URL(realm)
  } catch {
    throw new HangarError('unavailable', `the registry named an invalid token realm: ${realm.slice(0, 100)}`)
  }
  const registryOnLoopback = loopbackHost.test(new URL(base).hostname)
  const ok = url.protocol === 'https:' || (url.protocol === 'http:' && registryOnLoopback && loopbackHost.test(url.hostname))
  if (!ok || linkLocal.test(url.hostname)) {
    throw new HangarError('unavailable', `the registry's token realm ${url.origin} is not allowed (https only, or loopback for a loopback registry)`)
  }
  return url
}

/** `Bearer realm="…",service="…",scope="…"` → { scheme: 'bearer', params }. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | null {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header)
  if (!m) return null
  const params: Record<string, string> = {}
  for (const p of m[2]!.matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? ''
  return { scheme: m[1]!.toLowerCase(), params }
}
