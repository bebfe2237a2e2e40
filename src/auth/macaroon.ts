/**
 * Hangar's macaroons: `hm1_` + base64url of
 *
 *   id (16 random bytes) | caveat records (u16 big-endian length + the caveat's JSON) … | tail (32 bytes)
 *
 * The tail is an HMAC-SHA256 chain: HMAC(root key, "hm1" + id), then HMAC(previous, caveat bytes)
 * for each caveat. Holding a token is enough to append a caveat (the tail keys the next link), so
 * attenuation works offline; checking a token from the start needs the root key, which only the
 * daemon has. Caveats are signed as the bytes carried, so no canonical JSON is needed to verify.
 *
 *   const token = mint(key, newTokenId(), [{ type: 'apps', apps: ['web'] }])
 *   const narrower = attenuate(token, [{ type: 'actions', actions: ['read'] }])
 *   verifyMacaroon(key, narrower).caveats  // both caveats, in order
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { HangarError } from '../errors.ts'
import { caveatSchema, type Caveat } from './caveats.ts'

export const tokenPrefix = 'hm1_'
const idBytes = 16
const tailBytes = 32
const maxCaveatBytes = 4096
const maxCaveats = 64
/** Longer strings are refused before decoding: nobody needs a token this large, and decoding costs. */
const maxTokenChars = 24_000

export interface Macaroon {
  /** Hex of the 16-byte nonce: the token's id in the store, shared by every attenuation of it. */
  id: string
  caveats: Caveat[]
  /** The raw caveat bytes, as signed. */
  records: Buffer[]
  tail: Buffer
}

const malformed = (why: string): HangarError => new HangarError('token_malformed', `not a valid Hangar token: ${why}`)

const hmac = (key: Buffer, data: Buffer): Buffer => createHmac('sha256', key).update(data).digest()

/** 16 random bytes, as the hex id. */
export const newTokenId = (): string => randomBytes(idBytes).toString('hex')

function encode(id: Buffer, records: Buffer[], tail: Buffer): string {
  const framed = records.map((r) => {
    const len = Buffer.alloc(2)
    len.writeUInt16BE(r.length)
    return Buffer.concat([len, r])
  })
  return tokenPrefix + Buffer.concat([id, ...framed, tail]).toString('base64url')
}

function record(c: Caveat): Buffer {
  const parsed = caveatSchema.safeParse(c)
  if (!parsed.success) throw new HangarError('invalid_argument', `caveat ${JSON.stringify(c)} is not valid: ${parsed.error.issues.map((i) => i.message).join('; ')}`)
  const bytes = Buffer.from(JSON.stringify(parsed.data))
  if (bytes.length > maxCaveatBytes) throw new HangarError('invalid_argument', `a caveat is ${bytes.length} bytes; the limit is ${maxCaveatBytes}`)
  return bytes
}

/** Parses a token string without checking its signature (what `hangar tokens inspect` shows); malformed input throws token_malformed. */
export function decodeMacaroon(token: string): Macaroon {
  if (typeof token !== 'string' || !token.startsWith(tokenPrefix)) throw malformed(`it does not start with ${tokenPrefix}`)
  if (token.length > maxTokenChars) throw malformed(`it is longer than ${maxTokenChars} characters`)
  const body = token.slice(tokenPrefix.length)
  if (!/^[A-Za-z0-9_-]*$/.test(body)) throw malformed('it is not base64url')
  const bytes = Buffer.from(body, 'base64url')
  // Base64 has spare bits in its last character: only the one canonical spelling of the bytes is accepted.
  if (bytes.toString('base64url') !== body) throw malformed('it is not canonical base64url')
  if (bytes.length < idBytes + tailBytes) throw malformed('it is too short')
  const records: Buffer[] = []
  let at = idBytes
  const end = bytes.length - tailBytes
  while (at < end) {
    if (at + 2 > end) throw malformed('a caveat record is cut short')
    const len = bytes.readUInt16BE(at)
    if (len === 0 || len > maxCaveatBytes || at + 2 + len > end) throw malformed('a caveat record has a bad length')
    records.push(bytes.subarray(at + 2, at + 2 + len))
    at += 2 + len
    if (records.length > maxCaveats) throw malformed(`it has more than ${maxCaveats} caveats`)
  }
  const caveats = records.map((r, i) => {
    let json: unknown
    try {
      json = JSON.parse(r.toString('utf8'))
    } catch {
      throw malformed(`caveat ${i} is not JSON`)
    }
    const parsed = caveatSchema.safeParse(json)
    if (!parsed.success) throw malformed(`caveat ${i} is not one Hangar knows (${parsed.error.issues[0]?.message ?? 'invalid'})`)
    return parsed.data
  })
  return { id: bytes.subarray(0, idBytes).toString('hex'), caveats, records, tail: bytes.subarray(end) }
}

function chain(key: Buffer, id: string, records: Buffer[]): Buffer {
  let tail = hmac(key, Buffer.concat([Buffer.from('hm1'), Buffer.from(id, 'hex')]))
  for (const r of records) tail = hmac(tail, r)
  return tail
}

/** A new token signed with the root key; only the daemon calls this. */
export function mint(key: Buffer, id: string, caveats: readonly Caveat[] = []): string {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new HangarError('invalid_argument', 'a token id is 32 hex digits')
  const records = caveats.map(record)
  return encode(Buffer.from(id, 'hex'), records, chain(key, id, records))
}

/**
 * `token` with `caveats` appended: a token that allows at most what `token` allows. Needs no key.
 *   attenuate(token, [{ type: 'validity', not_after: Math.floor(Date.now() / 1000) + 3600 }])
 */
export function attenuate(token: string, caveats: readonly Caveat[]): string {
  const m = decodeMacaroon(token)
  if (m.records.length + caveats.length > maxCaveats) throw new HangarError('invalid_argument', `a token holds at most ${maxCaveats} caveats`)
  let tail = m.tail
  const added = caveats.map(record)
  for (const r of added) tail = hmac(tail, r)
  return encode(Buffer.from(m.id, 'hex'), [...m.records, ...added], tail)
}

/** The token's id and caveats if the root key signed it; otherwise token_malformed or token_invalid_signature. Never anything else. */
export function verifyMacaroon(key: Buffer, token: string): Macaroon {
  const m = decodeMacaroon(token)
  if (!timingSafeEqual(chain(key, m.id, m.records), m.tail)) {
    throw new HangarError('token_invalid_signature', 'the token\'s signature does not verify: it was altered, cut, or issued by another daemon')
  }
  return m
}
