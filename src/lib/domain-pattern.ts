/**
 * Domain patterns as egress rules name them, checked and put in one canonical form (lower
 * case, no trailing dot): `example.com`, `*.example.com` (names under it), or `*` (every
 * name). A wildcard is only ever a whole leading label: `ex*.com` and `a.*.com` are errors,
 * not patterns that silently match nothing.
 *
 *   parseDomainPattern('*.GitHub.com.')   // '*.github.com'
 */

export class DomainPatternError extends Error {}

/** Letters, digits, hyphens (not at either end) and underscores (`_dmarc`), 1–63 characters. */
const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/

export function parseDomainPattern(input: string): string {
  const s = input.trim().toLowerCase().replace(/\.$/, '')
  if (s === '*') return s
  const rest = s.startsWith('*.') ? s.slice(2) : s
  if (rest.includes('*')) throw new DomainPatternError(`"${input}": a wildcard may only be a leading "*." (as in *.example.com) or "*" alone`)
  if (rest.length === 0 || rest.length > 253) throw new DomainPatternError(`"${input}" is not a domain name (1 to 253 characters)`)
  const bad = rest.split('.').find((l) => !LABEL.test(l))
  if (bad !== undefined) {
    throw new DomainPatternError(`"${input}" is not a domain name: label "${bad}" must be 1 to 63 letters, digits, hyphens or underscores, not starting or ending with a hyphen`)
  }
  return s
}
