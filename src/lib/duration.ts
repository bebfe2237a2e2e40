/**
 * Go-style durations, as Fly's API speaks them: "10s", "1m30s", "250ms"; a bare
 * JSON number is nanoseconds (fly-go's Duration). Everything else is rejected.
 */
const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Milliseconds from a Go duration string or a nanosecond number; null when unparseable. */
export function parseDurationMs(v: string | number): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v / 1e6 : null
  const s = v.trim()
  if (s === '0') return 0
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y
  let total = 0
  let pos = 0
  while (pos < s.length) {
    re.lastIndex = pos
    const m = re.exec(s)
    if (!m) return null
    total += Number(m[1]) * (units[m[2] as string] as number)
    pos = re.lastIndex
  }
  return pos === 0 ? null : total
}

export function formatDurationMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}
