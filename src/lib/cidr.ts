/**
 * CIDR blocks as operators write them ("10.0.5.0/24", "2001:db8::/32", or a bare
 * address), checked and put in one canonical form, so a policy stored is the
 * policy enforced. Host bits set under the prefix are an error, not silently
 * masked: "10.0.0.5/8" more likely means a typo than 10.0.0.0/8.
 *
 *   parseCidr('10.0.5.0/24')   // { cidr: '10.0.5.0/24', family: 4 }
 */
import { isIPv4, isIPv6 } from 'node:net'

export interface Cidr {
  cidr: string
  family: 4 | 6
}

export class CidrError extends Error {}

function v6ToBig(addr: string): bigint {
  const [head = '', tail] = addr.split('::')
  const parts = (s: string): string[] => (s === '' ? [] : s.split(':'))
  let words = [...parts(head)]
  const rest = tail === undefined ? [] : parts(tail)
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two words.
  const last = (tail === undefined ? words : rest).at(-1)
  const v4tail = last !== undefined && last.includes('.') ? last.split('.').map(Number) : null
  if (v4tail) {
    const list = tail === undefined ? words : rest
    list.splice(-1, 1, ((v4tail[0]! << 8) | v4tail[1]!).toString(16), ((v4tail[2]! << 8) | v4tail[3]!).toString(16))
  }
  if (tail !== undefined) words = [...words, ...Array(8 - words.length - rest.length).fill('0'), ...rest]
  return words.reduce((n, w) => (n << 16n) | BigInt(Number.parseInt(w, 16)), 0n)
}

function bigToV6(n: bigint): string {
  const words = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn))
  // The longest run of zero words becomes '::'.
  let best = [-1, 0]
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > best[1]! && j - i > 1) best = [i, j - i]
    i = j
  }
  const hex = words.map((w) => w.toString(16))
  if (best[0]! < 0) return hex.join(':')
  return `${hex.slice(0, best[0]).join(':')}::${hex.slice(best[0]! + best[1]!).join(':')}`
}

export function parseCidr(input: string): Cidr {
  const slash = input.indexOf('/')
  const addr = slash === -1 ? input : input.slice(0, slash)
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : null
  if (family === null) throw new CidrError(`"${input}" is not an IPv4 or IPv6 address or CIDR block`)
  const max = family === 4 ? 32 : 128
  const prefixText = slash === -1 ? String(max) : input.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) throw new CidrError(`"${input}": the prefix length must be 0 to ${max}`)
  const prefix = Number(prefixText)
  const bits = BigInt(max)
  const value = family === 4 ? addr.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n) : v6ToBig(addr)
  const hostMask = (1n << (bits - BigInt(prefix))) - 1n
  if ((value & hostMask) !== 0n) {
    const network = value & ~hostMask & ((1n << bits) - 1n)
    const shown = family === 4 ? [24n, 16n, 8n, 0n].map((s) => String((network >> s) & 255n)).join('.') : bigToV6(network)
    throw new CidrError(`"${input}" has host bits set under /${prefix}; did you mean ${shown}/${prefix}?`)
  }
  const canonical = family === 4 ? [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.') : bigToV6(value)
  return { cidr: `${canonical}/${prefix}`, family }
}

/** The block's first host address, where CNI's bridge puts the gateway: 10.209.0.0/20 → 10.209.0.1. */
export function firstHost(block: string): string {
  const { cidr, family } = parseCidr(block)
  const net = cidr.slice(0, cidr.indexOf('/'))
  if (family === 4) {
    const n = net.split('.').reduce((v, o) => (v << 8n) | BigInt(Number(o)), 0n) + 1n
    return [24n, 16n, 8n, 0n].map((sh) => String((n >> sh) & 255n)).join('.')
  }
  return bigToV6(v6ToBig(net) + 1n)
}

function range(block: string): { family: 4 | 6; first: bigint; last: bigint } {
  // An interface's address with its prefix ("10.0.0.7/24") stands for its whole network here.
  const [addr = '', prefixText] = block.split('/')
  const { family } = parseCidr(addr)
  const bits = family === 4 ? 32n : 128n
  const prefix = prefixText === undefined ? bits : BigInt(parseCidr(`${family === 4 ? '0.0.0.0' : '::'}/${prefixText}`).cidr.split('/')[1]!)
  const value = family === 4 ? addr.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n) : v6ToBig(addr)
  const size = 1n << (bits - prefix)
  const first = value - (value % size)
  return { family, first, last: first + size - 1n }
}

/** Whether two blocks share any address: 10.0.0.0/8 and 10.5.0.0/24 do, 10.0.0.0/24 and 10.0.1.0/24 do not; host bits ("10.0.0.7/24") mean the whole network. */
export function overlaps(a: string, b: string): boolean {
  const x = range(a)
  const y = range(b)
  return x.family === y.family && x.first <= y.last && y.first <= x.last
}

/** Whether `address` (IPv4, IPv6, or IPv4-mapped IPv6 "::ffff:1.2.3.4") lies inside `block`; anything unparsable is outside. */
export function cidrContains(block: string, address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  const addr = mapped ? (mapped[1] as string) : address
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : null
  let parsed: Cidr
  try {
    parsed = parseCidr(block)
  } catch {
    return false
  }
  if (family === null || family !== parsed.family) return false
  const bits = family === 4 ? 32n : 128n
  const toBig = (a: string): bigint => (family === 4 ? a.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n) : v6ToBig(a))
  const prefix = BigInt(parsed.cidr.slice(parsed.cidr.indexOf('/') + 1))
  const shift = bits - prefix
  return toBig(addr) >> shift === toBig(parsed.cidr.slice(0, parsed.cidr.indexOf('/'))) >> shift
}
