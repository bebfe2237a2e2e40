/** Percentiles and the one-line format every benchmark prints. */
export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN
}

export function summary(samples: number[]): { p50: number; p99: number; min: number; n: number } {
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), min: Math.min(...samples), n: samples.length }
}

/** The middle value (the mean of the two middle ones for an even count): what every bench's verdict is on. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

export const ms = (n: number): string => `${n.toFixed(1)} ms`

export function verdict(ok: boolean): string {
  return ok ? 'meets target' : 'MISSES target'
}
