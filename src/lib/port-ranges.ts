/**
 * Port ranges as operators write them ("10000-10999", "15432"): which host ports the edge proxy
 * may listen on for machines' raw TCP services. Parsed once; anything malformed is an error.
 *
 *   const ranges = parsePortRanges(['10000-10999', '15432'])
 *   portAllowed(ranges, 10022)   // true
 *   formatPortRanges(ranges)     // "10000-10999, 15432"
 */

export interface PortRange {
  first: number
  last: number
}

export class PortRangeError extends Error {}

const portOf = (text: string, entry: string): number => {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new PortRangeError(`"${entry}": ${text} is not a port (1-65535)`)
  return Number(text)
}

/** `["none"]` (or no entries) allows no port. */
export function parsePortRanges(entries: readonly string[]): PortRange[] {
  if (entries.length === 1 && entries[0]?.trim() === 'none') return []
  return entries.map((raw) => {
    const entry = raw.trim()
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(entry)
    if (!m) throw new PortRangeError(`"${entry}" is not a port or a range like 10000-10999`)
    const first = portOf(m[1] as string, entry)
    const last = m[2] === undefined ? first : portOf(m[2], entry)
    if (last < first) throw new PortRangeError(`"${entry}": the range ends before it starts`)
    return { first, last }
  })
}

export const portAllowed = (ranges: readonly PortRange[], port: number): boolean => ranges.some((r) => port >= r.first && port <= r.last)

export const formatPortRanges = (ranges: readonly PortRange[]): string =>
  ranges.length === 0 ? 'none' : ranges.map((r) => (r.first === r.last ? String(r.first) : `${r.first}-${r.last}`)).join(', ')
