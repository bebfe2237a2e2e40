/**
 * Lenient response heads for undici. Machines' answers are parsed as nginx
 * does: CGI scripts (busybox httpd's among them) end header lines with a bare
 * LF, which undici's llhttp refuses and offers no switch for. So each upstream
 * socket gets a CR put before every bare LF of a response head — bodies pass
 * untouched. This is sound because the pool never pipelines: a response head
 * starts only after a request head was written on that socket.
 */
import { Socket } from 'node:net'

const CR = Buffer.from('\r')

export interface HeadState {
  /** Inside a response head (from a request head's write to the blank line). */
  head: boolean
  /** Bytes seen in the head so far (the status code's first digit is at 9). */
  pos: number
  /** Bytes on the current line, CR not counted: 0 at LF means the blank line. */
  line: number
  prevCR: boolean
  /** A 1xx head: another head follows it. */
  info: boolean
}

export function headState(): HeadState {
  return { head: true, pos: 0, line: 0, prevCR: false, info: false }
}

/**
 * Returns `chunk` with CR inserted before bare LFs of a response head; the same Buffer when nothing needed fixing.
 * It jumps from LF to LF with Buffer.indexOf: a byte-by-byte loop in JS cost a microsecond per response.
 */
export function fixHead(s: HeadState, chunk: Buffer): Buffer {
  if (!s.head) return chunk
  let parts: Buffer[] | null = null
  // `from`: the first byte not yet copied into parts; `at`: the start of the current line's bytes in this chunk.
  let from = 0
  let at = 0
  for (;;) {
    const lf = chunk.indexOf(10, at)
    // The status code's first digit is 9 bytes into a head: a 1 means another head follows this one.
    // Only a byte of this line counts: a head that ends sooner has no status there.
    if (s.pos <= 9) {
      const digit = at + 9 - s.pos
      if (digit < chunk.length && (lf === -1 || digit <= lf)) s.info = chunk[digit] === 0x31
    }
    const end = lf === -1 ? chunk.length : lf
    if (end > at) {
      s.prevCR = chunk[end - 1] === 13
      // A line of nothing but CRs is still the blank line: only the bytes before its trailing CRs count.
      let text = end
      while (text > at && chunk[text - 1] === 13) text--
      s.line += text - at
    }
    s.pos += end - at
    if (lf === -1) break
    if (!s.prevCR) {
      ;(parts ??= []).push(chunk.subarray(from, lf), CR)
      from = lf
    }
    s.pos++
    s.prevCR = false
    at = lf + 1
    if (s.line !== 0) s.line = 0
    else if (s.info) Object.assign(s, headState())
    else {
      s.head = false
      break
    }
  }
  if (!parts) return chunk
  parts.push(chunk.subarray(from))
  return Buffer.concat(parts)
}

const kHead = Symbol('hangar.responseHead')
type Lenient = Socket & { [kHead]: HeadState }
const push = Socket.prototype.push
const write = Socket.prototype.write

// One pair of functions for every upstream socket (state lives on the socket): per-socket closures made
// every call site that reaches them megamorphic.
function lenientPush(this: Lenient, chunk: unknown, encoding?: BufferEncoding): boolean {
  const s = this[kHead]
  return push.call(this, s.head && Buffer.isBuffer(chunk) ? fixHead(s, chunk) : chunk, encoding)
}

// undici writes request heads as latin1 strings starting with the method; chunk framing strings
// start with CR; bodies (ours are always Buffers) never re-arm. Fixed parameters, not a rest array.
function lenientWrite(this: Lenient, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (typeof chunk === 'string' && chunk.charCodeAt(0) !== 13) {
    const s = this[kHead]
    s.head = true
    s.pos = 0
    s.line = 0
    s.prevCR = false
    s.info = false
  }
  return (write as (c: unknown, e?: unknown, f?: unknown) => boolean).call(this, chunk, encoding, cb)
}

/** Patches a fresh upstream socket: reads pass through fixHead, a request head re-arms it. */
export function lenientHeads(socket: Socket): Socket {
  const s = headState()
  s.head = false
  const l = socket as Lenient
  l[kHead] = s
  l.push = lenientPush
  l.write = lenientWrite as Socket['write']
  return socket
}
