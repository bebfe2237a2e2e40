/**
 * The request the tokenizer is about to send upstream, as processors change it: ordered headers
 * (names keep the client's spelling; lookups ignore case) and, when a processor must see the body
 * (HMAC of it, a placeholder in it), the whole body in memory.
 *
 *   const d = new Draft('POST', 'api.example.com', '/v1/x', req.rawHeaders)
 *   d.set('Authorization', 'Bearer …')
 */

/** Headers that frame the message or the hop: never forwarded as the client sent them, never an injection target. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade'])
/** The proxy's own request headers: removed before forwarding (superfly's FilteredHeaders). */
export const proxyHeaders = new Set(['proxy-authorization', 'proxy-tokenizer'])
/** What a `dst` may not name: the message's framing, its target, and the proxy's own headers. */
export const unsafeDst = new Set([...hopByHop, ...proxyHeaders, 'host', 'content-length'])

/** A header field name as RFC 9110 allows it (Go's CanonicalMIMEHeaderKey leaves anything else alone; Node would throw). */
export const tokenChars = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** A header value Node will send: no CR, LF or NUL. */
const valueChars = /^[\t\x20-\x7e\x80-\xff]*$/

/** Go's textproto.CanonicalMIMEHeaderKey: "x-stripe-token" → "X-Stripe-Token"; a name with invalid characters is returned unchanged. */
export function canonicalHeader(name: string): string {
  if (!tokenChars.test(name)) return name
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())
}

export function validHeaderValue(v: string): boolean {
  return valueChars.test(v)
}

/** The names a Connection header lists, which are hop-by-hop too. */
function connectionTokens(raw: string[]): Set<string> {
  const out = new Set<string>()
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') for (const t of raw[i + 1]!.split(',')) out.add(t.trim().toLowerCase())
  }
  return out
}

/** Raw header pairs [name, value, name, value…] without hop-by-hop fields (and those Connection names). */
export function endToEnd(raw: string[], drop: ReadonlySet<string> = new Set()): string[] {
  const named = connectionTokens(raw)
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase()
    if (hopByHop.has(k) || named.has(k) || drop.has(k)) continue
    out.push(raw[i]!, raw[i + 1]!)
  }
  return out
}

export class Draft {
  readonly method: string
  /** The Host header the upstream gets. */
  readonly host: string
  path: string
  #headers: [string, string][] = []
  /** The whole body, once read (only when a processor needs it); null: streamed from the client as it comes. */
  body: Buffer | null = null

  constructor(method: string, host: string, path: string, rawHeaders: string[]) {
    this.method = method
    this.host = host
    this.path = path
    const kept = endToEnd(rawHeaders, new Set([...proxyHeaders, 'host', 'content-length']))
    for (let i = 0; i < kept.length; i += 2) this.#headers.push([kept[i]!, kept[i + 1]!])
  }

  get(name: string): string | undefined {
    const n = name.toLowerCase()
    return this.#headers.find(([k]) => k.toLowerCase() === n)?.[1]
  }

  /** Replaces every value of `name` (Go's Header.Set). */
  set(name: string, value: string): void {
    this.delete(name)
    this.#headers.push([name, value])
  }

  delete(name: string): void {
    const n = name.toLowerCase()
    this.#headers = this.#headers.filter(([k]) => k.toLowerCase() !== n)
  }

  names(): string[] {
    return this.#headers.map(([k]) => k)
  }

  /** Flat [name, value…] as http.request takes it. */
  raw(): string[] {
    return this.#headers.flat()
  }
}
