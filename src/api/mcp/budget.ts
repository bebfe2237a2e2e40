/**
 * Output budgets: a robot's context window is the scarce resource, so every
 * tool caps what it returns and says how to get the rest. Pure functions.
 *   const out = clipMiddle(stdout, 4096)   // head and tail kept, the middle counted
 *   const page = pageLines(lines, { since, maxLines: 100, maxBytes: 4096 })
 */

export const budgets = {
  /** Per stream, for machine_exec stdout and stderr. */
  execBytes: 4096,
  logLines: 100,
  logBytes: 4096,
  listItems: 50,
  /** Last-resort cap on any tool's text, whatever the tool did. */
  textBytes: 32 * 1024,
} as const

const encoder = new TextEncoder()
export const byteLength = (s: string): number => encoder.encode(s).length

/** Largest prefix of `bytes` that is at most `max` bytes and does not split a UTF-8 character. */
function headBoundary(bytes: Uint8Array, max: number): number {
  let end = Math.min(max, bytes.length)
  while (end > 0 && end < bytes.length && ((bytes[end] as number) & 0xc0) === 0x80) end--
  return end
}

/** Start of the largest suffix of at most `max` bytes that begins on a character boundary. */
function tailBoundary(bytes: Uint8Array, max: number): number {
  let start = Math.max(0, bytes.length - max)
  while (start < bytes.length && ((bytes[start] as number) & 0xc0) === 0x80) start++
  return start
}

export interface Clipped {
  text: string
  /** Bytes left out of the middle; 0 when nothing was cut. */
  omitted: number
}

/**
 * Keeps the first ~60% and the last ~40% of `max` bytes (the end of a build log
 * or a stack trace is usually what matters) and puts `marker(omitted)` between.
 */
export function clipMiddle(text: string, max: number, marker: (omitted: number) => string = (n) => `[truncated: ${n} more bytes]`): Clipped {
  const bytes = encoder.encode(text)
  if (bytes.length <= max) return { text, omitted: 0 }
  const decoder = new TextDecoder()
  const headEnd = headBoundary(bytes, Math.floor(max * 0.6))
  const tailStart = tailBoundary(bytes, max - headEnd)
  const omitted = tailStart - headEnd
  return { text: `${decoder.decode(bytes.subarray(0, headEnd))}\n${marker(omitted)}\n${decoder.decode(bytes.subarray(tailStart))}`, omitted }
}

/** Keeps the first `max` bytes and appends the marker: for text whose end is not special. */
export function clipEnd(text: string, max: number, marker: (omitted: number) => string = (n) => `[truncated: ${n} more bytes]`): Clipped {
  const bytes = encoder.encode(text)
  if (bytes.length <= max) return { text, omitted: 0 }
  const end = headBoundary(bytes, max)
  return { text: `${new TextDecoder().decode(bytes.subarray(0, end))}\n${marker(bytes.length - end)}`, omitted: bytes.length - end }
}

export interface Page<T> {
  items: T[]
  total: number
  /** Pass as `offset` to get the next page; null on the last page. */
  next_offset: number | null
}

export function pageItems<T>(all: T[], offset = 0, limit: number = budgets.listItems): Page<T> {
  const items = all.slice(offset, offset + limit)
  const next = offset + items.length
  return { items, total: all.length, next_offset: next < all.length ? next : null }
}

export interface Stamped {
  timestamp: string
  message: string
}

export interface LinePage<T extends Stamped> {
  lines: T[]
  /** Timestamp of the last line returned: pass as `since` for newer lines. Null when there are none. */
  cursor: string | null
  /** More lines after the cursor were left out by the budget. */
  more: boolean
}

/**
 * Lines strictly after `since` (all of them without it), oldest first, cut to
 * the budget. Without `since` the newest lines are kept (a tail); with it the
 * oldest, so the cursor moves forward without gaps. A cut never falls between
 * lines with the same timestamp, or the cursor would skip the rest of them.
 */
export function pageLines<T extends Stamped>(all: T[], opts: { since?: string; maxLines: number; maxBytes: number }): LinePage<T> {
  // A cursor is "<timestamp>#<n>": the n-th line stamped <timestamp> was the last one returned.
  // conmon stamps every line of one read alike, so a timestamp alone could not split such a group.
  const from = opts.since === undefined ? null : parseCursor(opts.since)
  const ordinal = ordinals(all)
  const fresh = from === null ? all : all.filter((l, i) => l.timestamp > from.timestamp || (l.timestamp === from.timestamp && (ordinal[i] as number) > from.seen))
  const fromTail = from === null
  const ordered = fromTail ? [...fresh].reverse() : fresh
  const kept: T[] = []
  let bytes = 0
  for (const l of ordered) {
    const size = byteLength(l.message) + 1
    if (kept.length >= opts.maxLines || (kept.length > 0 && bytes + size > opts.maxBytes)) break
    // One line longer than the whole budget is still returned, clipped, so the cursor can pass it.
    kept.push(size > opts.maxBytes ? { ...l, message: clipEnd(l.message, opts.maxBytes).text } : l)
    bytes += size
  }
  const lines = fromTail ? kept.reverse() : kept
  const lastIndex = fromTail ? all.length - 1 : all.indexOf(fresh[kept.length - 1] as T)
  const last = lines.length ? all[lastIndex] : undefined
  const cursor = last ? `${last.timestamp}#${ordinal[lastIndex]}` : fromTail ? null : (opts.since as string)
  return { lines, cursor, more: !fromTail && lines.length < fresh.length }
}

/** For each line, how many lines so far (it included) share its timestamp. */
function ordinals(all: Stamped[]): number[] {
  const out: number[] = []
  for (let i = 0; i < all.length; i++) out.push(i > 0 && (all[i - 1] as Stamped).timestamp === (all[i] as Stamped).timestamp ? (out[i - 1] as number) + 1 : 1)
  return out
}

/** "<ts>#<n>", or a bare timestamp (meaning every line at it was seen). */
function parseCursor(c: string): { timestamp: string; seen: number } {
  const i = c.lastIndexOf('#')
  const n = i < 0 ? Number.NaN : Number(c.slice(i + 1))
  return Number.isInteger(n) && n >= 0 ? { timestamp: c.slice(0, i), seen: n } : { timestamp: c, seen: Number.POSITIVE_INFINITY }
}
