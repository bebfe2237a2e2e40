/**
 * What GNU tar will extract from a layer, read from `tar -tv`, so the layer
 * check (node-tar) can be held to the extractor's view entry by entry. Two tar
 * readers disagree on corner cases (PAX path vs GNU long name, sparse files, a
 * lone zero block); comparing both views in order makes the check exact: an
 * entry only one of them sees is refused instead of being extracted unchecked.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'

/** One listed entry: `ls -l`'s type letter ('-', 'd', 'l', 'h', 'c', 'b', 'p', …), the path and a link's target. */
export interface ListedEntry {
  type: string
  path: string
  link?: string
}

const utf8 = new TextDecoder('utf-8')

/**
 * Parses one `tar -tv --quoting-style=c` line (LC_ALL=C, so every byte past ASCII
 * is an octal escape). The fields before the name never contain a quote.
 */
export function parseListing(line: string): ListedEntry | null {
  const open = line.indexOf('"')
  if (open < 0) return null
  const name = cString(line, open)
  if (!name) return null
  const entry: ListedEntry = { type: line[0] as string, path: name.value }
  const rest = line.slice(name.end)
  const arrow = rest.startsWith(' -> "') ? 4 : rest.startsWith(' link to "') ? 9 : -1
  if (arrow > 0) {
    const target = cString(rest, arrow)
    if (!target) return null
    entry.link = target.value
  }
  return entry
}

/** Decodes a C-quoted string starting at `s[at] === '"'`; `end` is just past the closing quote. */
function cString(s: string, at: number): { value: string; end: number } | null {
  const bytes: number[] = []
  const simple: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, b: 8, a: 7, '\\': 92, '"': 34, '?': 63 }
  for (let i = at + 1; i < s.length; i++) {
    const c = s[i] as string
    if (c === '"') return { value: utf8.decode(Uint8Array.from(bytes)), end: i + 1 }
    if (c !== '\\') {
      bytes.push(c.charCodeAt(0))
      continue
    }
    const e = s[++i] ?? ''
    if (e >= '0' && e <= '7') {
      const oct = /^[0-7]{1,3}/.exec(s.slice(i, i + 3))![0]
      bytes.push(parseInt(oct, 8))
      i += oct.length - 1
    } else if (simple[e] !== undefined) bytes.push(simple[e] as number)
    else return null
  }
  return null
}

/** GNU tar's type letter for a node-tar entry type. */
export function typeLetter(nodeTarType: string): string {
  switch (nodeTarType) {
    case 'File':
    case 'OldFile':
      return '-'
    case 'ContiguousFile':
      return 'C'
    case 'Directory':
      return 'd'
    case 'SymbolicLink':
      return 'l'
    case 'Link':
      return 'h'
    case 'CharacterDevice':
      return 'c'
    case 'BlockDevice':
      return 'b'
    case 'FIFO':
      return 'p'
    default:
      return '?'
  }
}

/** `tar -tv` over stdin; `onEntry` gets each entry in archive order. */
export function gnuListing(onEntry: (e: ListedEntry | null, line: string) => void): { child: ChildProcessWithoutNullStreams; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn('tar', ['-t', '-v', '--numeric-owner', '--full-time', '--quoting-style=c', '-f', '-'], {
    env: { ...process.env, LC_ALL: 'C' },
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4096)
  })
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity })
  lines.on('line', (line) => onEntry(parseListing(line), line))
  // The 'close' of the readline interface comes after its last 'line': the listing is complete then.
  const read = new Promise<void>((resolve) => lines.once('close', resolve))
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  return { child, done: Promise.all([exited, read]).then(([code]) => ({ code, stderr: stderr.trim() })) }
}
