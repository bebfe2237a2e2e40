/**
 * Which Debian archive a base image is built from and then points at: the
 * host's own apt sources (deb822 `*.sources` or one-line `sources.list`), so
 * a host behind a mirror or proxy builds images that use the same one.
 *
 *   const lines = imageSources(await hostSources(), 'bookworm')
 *   // ['deb http://deb.debian.org/debian bookworm main', '… bookworm-updates main', '… bookworm-security main']
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../errors.ts'

export interface AptSource {
  uri: string
  suites: string[]
}

export const defaultArchive = 'http://deb.debian.org/debian'
export const defaultSecurity = 'http://deb.debian.org/debian-security'

/** Suites that have no -updates or -security companion. */
const rolling = new Set(['sid', 'unstable', 'experimental', 'rc-buggy'])

/** Only http(s) archives: cdrom:, file: and mirror+file: sources name things that exist on the host alone. */
const httpUri = /^https?:\/\/[^\s'"]+$/

/** The deb822 stanzas of type `deb` that are not disabled. */
export function parseDeb822(text: string): AptSource[] {
  const out: AptSource[] = []
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>()
    let last = ''
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line)
      if (m) fields.set((last = m[1]!.toLowerCase()), m[2]!.trim())
      else if (/^\s/.test(line) && last) fields.set(last, `${fields.get(last)} ${line.trim()}`)
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter(Boolean)
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean)) out.push({ uri, suites })
  }
  return out
}

/** `deb [options] uri suite component…` lines. */
export function parseSourcesList(text: string): AptSource[] {
  const out: AptSource[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').replace(/\[[^\]]*\]/, ' ').trim()
    const [type, uri, suite] = line.split(/\s+/)
    if (type === 'deb' && uri && suite) out.push({ uri, suites: [suite] })
  }
  return out
}

/** Every enabled `deb` source on the host, deb822 files first (Debian 12's default). */
export async function hostSources(etcApt = '/etc/apt'): Promise<AptSource[]> {
  const read = (p: string): Promise<string> => readFile(p, 'utf8').catch(() => '')
  const dir = join(etcApt, 'sources.list.d')
  const names = (await readdir(dir).catch(() => [] as string[])).sort()
  const out: AptSource[] = []
  for (const n of names) if (n.endsWith('.sources')) out.push(...parseDeb822(await read(join(dir, n))))
  out.push(...parseSourcesList(await read(join(etcApt, 'sources.list'))))
  for (const n of names) if (n.endsWith('.list')) out.push(...parseSourcesList(await read(join(dir, n))))
  return out.filter((s) => httpUri.test(s.uri))
}

/**
 * One-line sources for an image of `suite` (main only): the archive is
 * `mirror`, else the host's first non-security archive, else deb.debian.org;
 * security likewise from the host's `*-security` source.
 */
export function imageSources(host: AptSource[], suite: string, mirror?: string): string[] {
  if (mirror !== undefined && !httpUri.test(mirror)) {
    throw new HangarError('invalid_argument', `mirror must be an http(s) URL, got "${mirror}"`)
  }
  const isSecurity = (s: string): boolean => /-security$|\/updates$/.test(s)
  const trim = (u: string): string => u.replace(/\/+$/, '')
  const archive = trim(mirror ?? host.find((s) => s.suites.some((x) => !isSecurity(x)))?.uri ?? defaultArchive)
  const security = trim(host.find((s) => s.suites.some(isSecurity))?.uri ?? defaultSecurity)
  if (rolling.has(suite)) return [`deb ${archive} ${suite} main`]
  return [`deb ${archive} ${suite} main`, `deb ${archive} ${suite}-updates main`, `deb ${security} ${suite}-security main`]
}
