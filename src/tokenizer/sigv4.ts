/**
 * sigv4_processor: re-signs an AWS request with the sealed keys. The client signs with anything
 * (a placeholder key) so its SDK writes the credential scope; the tokenizer reads date, region and
 * service from that Authorization header (and X-Amz-Date), drops it, and signs again as
 * aws-sdk-go-v2's v4 signer does for superfly/tokenizer: host, content-length and every other
 * header but Authorization, User-Agent, X-Amzn-Trace-Id, Expect and Transfer-Encoding; the path
 * escaped once more; the query sorted and rewritten in its canonical form.
 * `no_swap: false` keeps superfly's bug-compatible swap of region and service.
 *
 *   sigv4Step({ type: 'sigv4_processor', accessKey, secretKey, noSwap: true }).apply(draft)
 */
import { createHash, createHmac } from 'node:crypto'
import { HangarError } from '../errors.ts'
import type { Draft } from './draft.ts'
import type { Processor } from './secret.ts'

type Sigv4 = Extract<Processor, { type: 'sigv4_processor' }>

const ignored = new Set(['authorization', 'user-agent', 'x-amzn-trace-id', 'expect', 'transfer-encoding'])
/** Headers an outbound proxy may change on the way, which superfly drops before signing. */
const dropped = ['authorization', 'accept-encoding', 'via', 'x-forwarded-for', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-ssl', 'x-request-start']

const refuse = (why: string): HangarError => new HangarError('tokenizer_bad_request', `sigv4: ${why}`, { hint: 'sign the request with any key first (an AWS SDK pointed at the tokenizer does), so its Authorization header carries the date, region and service' })

/** RFC 3986 unreserved characters stay; everything else is %XX (uppercase), as Go's SigV4 escaping does. */
const escape = (s: string, keepSlash: boolean): string =>
  Array.from(Buffer.from(s, 'utf8'), (b) => {
    const c = String.fromCharCode(b)
    return /[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/') ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }).join('')

/** Go's url.ParseQuery then Values.Encode with %20 for spaces: keys sorted, each key's values sorted. */
function canonicalQuery(raw: string): string {
  const pairs: [string, string][] = []
  for (const part of raw.split('&')) {
    if (!part || part.includes(';')) continue
    const eq = part.indexOf('=')
    const dec = (s: string): string | null => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '))
      } catch {
        return null
      }
    }
    const k = dec(eq < 0 ? part : part.slice(0, eq))
    const v = dec(eq < 0 ? '' : part.slice(eq + 1))
    if (k !== null && v !== null) pairs.push([k, v])
  }
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
  const keys = [...new Set(pairs.map(([k]) => k))].sort(cmp)
  return keys.flatMap((k) => pairs.filter(([x]) => x === k).map(([, v]) => v).sort(cmp).map((v) => `${escape(k, false)}=${escape(v, false)}`)).join('&')
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest()
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex')
const amzDate = (d: Date): string => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')

/** The date, region and service of the client's own signature. */
function scopeOf(d: Draft, noSwap: boolean): { date: Date; region: string; service: string } {
  const auth = d.get('authorization')
  if (!auth) throw refuse('the request has no Authorization header to re-sign')
  const cred = auth.split(' ').map((s) => s.replace(/,+$/, '')).find((s) => s.startsWith('Credential='))
  if (!cred) throw refuse('no Credential= in the Authorization header')
  const parts = cred.slice('Credential='.length).split('/')
  if (parts.length !== 5) throw refuse('the Credential in the Authorization header is not key/date/region/service/aws4_request')
  const day = /^(\d{4})(\d{2})(\d{2})$/.exec(parts[1]!)
  if (!day) throw refuse('the credential date is not YYYYMMDD')
  let date = new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])))
  const stamp = d.get('x-amz-date')
  if (stamp) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(stamp)
    if (!m) throw refuse('X-Amz-Date is not YYYYMMDDTHHMMSSZ')
    date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])))
  }
  const [region, service] = noSwap ? [parts[2]!, parts[3]!] : [parts[3]!, parts[2]!]
  if (!region || !service || Number.isNaN(date.getTime())) throw refuse('the credential scope is incomplete')
  return { date, region, service }
}

/** Signs the draft in place; `host` is the Host header the upstream will see. */
export function sign(p: Sigv4, d: Draft, host: string): void {
  const { date, region, service } = scopeOf(d, p.noSwap)
  for (const h of dropped) d.delete(h)
  const stamp = amzDate(date)
  d.set('X-Amz-Date', stamp)
  const body = d.body ?? Buffer.alloc(0)
  const payloadHash = d.get('x-amz-content-sha256') || sha256(body)
  const signed = new Map<string, string[]>([['host', [host]]])
  if (body.length > 0) signed.set('content-length', [String(body.length)])
  const raw = d.raw()
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase()
    if (ignored.has(k) || k === 'content-length' || k === 'host') continue
    signed.set(k, [...(signed.get(k) ?? []), raw[i + 1]!])
  }
  const names = [...signed.keys()].sort()
  const clean = (v: string): string => v.replace(/\s+/g, ' ').trim()
  const canonicalHeaders = names.map((n) => `${n}:${signed.get(n)!.map(clean).join(',')}\n`).join('')
  const q = d.path.indexOf('?')
  const path = q < 0 ? d.path : d.path.slice(0, q)
  const query = canonicalQuery(q < 0 ? '' : d.path.slice(q + 1))
  // The path as sent, escaped once more (the v4 signer's default, which superfly uses).
  const canonicalUri = escape(path || '/', true)
  const canonical = [d.method, canonicalUri, query, canonicalHeaders, names.join(';'), payloadHash].join('\n')
  const scope = `${stamp.slice(0, 8)}/${region}/${service}/aws4_request`
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256(canonical)].join('\n')
  const key = ['aws4_request'].reduce((k, x) => hmac(k, x), [stamp.slice(0, 8), region, service].reduce<Buffer | string>((k, x) => hmac(k, x), `AWS4${p.secretKey}`))
  const signature = createHmac('sha256', key).update(toSign).digest('hex')
  d.path = (path || '/') + (query ? `?${query}` : '')
  d.set('Authorization', `AWS4-HMAC-SHA256 Credential=${p.accessKey}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`)
}

/** The processor: the body is read whole, for its hash when the client sent no X-Amz-Content-Sha256. */
export function sigv4Step(p: Sigv4): { needsBody: boolean; apply(d: Draft): void } {
  if (!p.accessKey) throw new HangarError('tokenizer_bad_secret', 'the sealed secret cannot be used: missing access key')
  if (!p.secretKey) throw new HangarError('tokenizer_bad_secret', 'the sealed secret cannot be used: missing secret key')
  return { needsBody: true, apply: (d) => sign(p, d, d.host) }
}
