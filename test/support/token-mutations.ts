/**
 * Mutated tokens for fuzzing: bit flips (in the bytes and in the text), truncation, splices of two
 * tokens, appended garbage and random bodies, from a seeded generator so a failure replays.
 *   for (const bad of mutatedTokens(valid, 10_000, 42)) …
 */
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function* mutatedTokens(valid: readonly string[], count: number, seed: number): Generator<{ kind: string; token: string }> {
  const r = rng(seed)
  const int = (n: number): number => Math.floor(r() * n)
  const pick = (): string => valid[int(valid.length)] as string
  const garbage = (n: number): string => Array.from({ length: n }, () => (r() < 0.9 ? alphabet[int(64)] : String.fromCharCode(33 + int(94)))).join('')
  const kinds: [string, () => string][] = [
    ['byte bit flip', () => {
      const t = pick()
      const b = Buffer.from(t.slice(4), 'base64url')
      for (let i = 1 + int(3); i > 0; i--) {
        const at = int(b.length)
        b[at] = (b[at] as number) ^ (1 << int(8))
      }
      return 'hm1_' + b.toString('base64url')
    }],
    ['text flip', () => {
      const t = pick()
      const at = int(t.length)
      return t.slice(0, at) + garbage(1) + t.slice(at + 1)
    }],
    ['truncation', () => {
      const t = pick()
      return t.slice(0, int(t.length))
    }],
    ['splice', () => {
      const a = pick()
      const b = pick()
      return a.slice(0, int(a.length)) + b.slice(int(b.length))
    }],
    ['appended garbage', () => pick() + garbage(1 + int(40))],
    ['appended bytes', () => {
      const t = pick()
      const b = Buffer.concat([Buffer.from(t.slice(4), 'base64url'), Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)))])
      return 'hm1_' + b.toString('base64url')
    }],
    ['random body', () => 'hm1_' + garbage(int(300))],
  ]
  for (let i = 0; i < count; i++) {
    const [kind, make] = kinds[i % kinds.length] as [string, () => string]
    yield { kind, token: make() }
  }
}
