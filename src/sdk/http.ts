/** The SDK's transport: JSON over fetch, errors rebuilt as HangarError with the daemon's code and hint. */
import { HangarError, codes, type Code } from '../errors.ts'
import { fillPath, inputInQuery, type OpInput, type OpParams, type OpResult, type OpSpec } from '../ops/index.ts'

export interface ClientOptions {
  /** e.g. http://127.0.0.1:4280 */
  baseUrl: string
  token: string
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>
  body?: unknown
  /** Raw body (e.g. an image archive); sent as application/octet-stream. */
  raw?: BodyInit
  nonce?: string
  signal?: AbortSignal
  headers?: Record<string, string>
}

export class Http {
  readonly #opts: ClientOptions

  constructor(opts: ClientOptions) {
    this.#opts = { ...opts, baseUrl: opts.baseUrl.replace(/\/$/, '') }
  }

  get token(): string {
    return this.#opts.token
  }

  url(path: string, query: RequestOptions['query'] = {}): string {
    const u = new URL(this.#opts.baseUrl + path)
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue
      if (Array.isArray(v)) for (const x of v) u.searchParams.append(k, x)
      else u.searchParams.set(k, String(v))
    }
    return u.toString()
  }

  async fetch(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#opts.token}`, ...opts.headers }
    if (opts.nonce) headers['fly-machine-lease-nonce'] = opts.nonce
    let body: BodyInit | undefined
    if (opts.raw !== undefined) {
      body = opts.raw
      headers['content-type'] = 'application/octet-stream'
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body)
      headers['content-type'] = 'application/json'
    }
    const send = () => fetch(this.url(path, opts.query), { method, headers, body, signal: opts.signal ?? null, ...(opts.raw ? { duplex: 'half' } : {}) } as RequestInit)
    let res: Response
    try {
      res = await send().catch((e: unknown) => (staleConnection(e) && replayable(method, headers, body) ? send() : Promise.reject(e)))
    } catch (e) {
      throw new HangarError('unavailable', `cannot reach the Hangar daemon at ${this.#opts.baseUrl}: ${(e as Error).cause ?? (e as Error).message}`, {
        hint: 'start it with `./hangar up`, or set HANGAR_API_URL',
        cause: e,
      })
    }
    if (!res.ok) throw await toError(res)
    return res
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.fetch(method, path, opts)
    if (res.status === 204 || res.headers.get('content-length') === '0') return undefined as T
    const text = await res.text()
    return (text ? JSON.parse(text) : undefined) as T
  }

  /** Runs a declared operation (src/ops), typed by its declaration. */
  call<S extends OpSpec>(spec: S, params: OpParams<S>, input?: OpInput<S>, opts: CallOptions = {}): Promise<OpResult<S>> {
    return this.json(...requestOf(spec, params, input, opts))
  }

  /** Runs a declared operation that answers bytes (`bytes: 'out'`): the raw response, its body unread. */
  callRaw<S extends OpSpec>(spec: S, params: OpParams<S>, input?: OpInput<S>, opts: CallOptions = {}): Promise<Response> {
    return this.fetch(...requestOf(spec, params, input, opts))
  }
}

/**
 * A kept-alive connection the server closed just as it was reused: the request never reached the daemon.
 * The error alone cannot tell this from a daemon that died mid-request, so only requests that are safe
 * to send twice are sent again (once, on a fresh connection).
 */
function staleConnection(e: unknown): boolean {
  const code = ((e as Error).cause as { code?: string } | undefined)?.code
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE'
}

function replayable(method: string, headers: Record<string, string>, body: BodyInit | undefined): boolean {
  const rereadable = body === undefined || typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof Blob
  return rereadable && (['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'].includes(method) || Object.keys(headers).some((h) => h.toLowerCase() === 'idempotency-key'))
}

type CallOptions = Pick<RequestOptions, 'nonce' | 'signal' | 'headers' | 'raw'>

/** The request a declared operation makes: the method and path from its declaration, the input as body or query. */
function requestOf<S extends OpSpec>(spec: S, params: OpParams<S>, input: OpInput<S> | undefined, opts: CallOptions): [string, string, RequestOptions] {
  const clean = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as RequestOptions
  const where = input === undefined ? {} : inputInQuery(spec) || spec.bytes === 'in' ? { query: input as RequestOptions['query'] } : { body: input }
  return [spec.method.toUpperCase(), fillPath(spec, params as Record<string, string>), { ...where, ...clean }]
}

async function toError(res: Response): Promise<HangarError> {
  let body: { error?: string; code?: string; hint?: string; details?: Record<string, unknown> } = {}
  try {
    body = await res.json()
  } catch {
    /* not JSON: keep the status */
  }
  const code = (body.code && body.code in codes ? body.code : res.status === 404 ? 'route_not_found' : 'internal') as Code
  return new HangarError(code, body.error ?? `HTTP ${res.status}`, { ...(body.hint ? { hint: body.hint } : {}), ...(body.details ? { details: body.details } : {}) })
}
