/**
 * Lenient response heads for undici. Machines' answers are parsed as nginx
 * does: CGI scripts (busybox httpd's among them) end header lines with a bare
 * LF, which undici's llhttp refuses and offers no switch for. So each upstream
 * socket gets a CR put before every bare LF of a response head — bodies pass
 * untouched. This is sound because the pool never pipelines: a response head
 * starts only after a request head was written on that socket.
 */
import type { Socket } from 'node:net'

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

/** Returns `chunk` with CR inserted before bare LFs of a response head; the same Buffer when nothing needed fixing. */
export function fixHead(s: HeadState, chunk: Buffer): Buffer {
  if (!s.head) return chunk
  let parts: Buffer[] | null = null
  let from = 0
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i] as number
    if (s.pos++ === 9) s.info = b === 0x31
    if (b === 10) {
      if (!s.prevCR) {
        ;(parts ??= []).push(chunk.subarray(from, i), CR)
        from = i
      }
      s.prevCR = false
      if (s.line === 0) {
        if (s.info) Object.assign(s, headState())
        else {
          s.head = false
          break
        }
        continue
      }
      s.line = 0
      continue
    }
    s.prevCR = b === 13
    if (b !== 13) s.line++
  }
  if (!parts) return chunk
  parts.push(chunk.subarray(from))
  return Buffer.concat(parts)
}

/** Patches a fresh upstream socket: reads pass through fixHead, a request head re-arms it. */
export function lenientHeads(socket: Socket): Socket {
  const s = headState()
  s.head = false
  const push = socket.push
  socket.push = function (chunk: unknown, encoding?: BufferEncoding): boolean {
    return push.call(this, Buffer.isBuffer(chunk) && s.head ? fixHead(s, chunk) : chunk, encoding)
  }
  const write = socket.write
  // undici writes request heads as latin1 strings starting with the method; chunk
  // framing strings start with CR; bodies (ours are always Buffers) never re-arm.
  // Fixed parameters, not a rest array: this runs for every write to a machine.
  socket.write = function (this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof chunk === 'string' && chunk.charCodeAt(0) !== 13) {
      s.head = true
      s.pos = 0
      s.line = 0
      s.prevCR = false
      s.info = false
    }
    return (write as (c: unknown, e?: unknown, f?: unknown) => boolean).call(this, chunk, encoding, cb)
  } as Socket['write']
  return socket
}
