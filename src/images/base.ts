/**
 * The Debian base image: mmdebstrap builds a minimal root filesystem (apt,
 * ca-certificates, bash, tini as a zombie-reaping PID 1) from the host's own
 * archive; it is wrapped as a one-layer OCI image and imported through the
 * store like any other archive, so digests and atomicity are the store's.
 *
 *   const img = await buildDebianBase(images, { onProgress: (p) => log.info(p) })
 *   // tagged debian:bookworm and debian:latest; a second call returns it at once
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { HangarError, isHangarError } from '../errors.ts'
import { hostSources, imageSources } from './apt-sources.ts'
import { MmdebstrapProgress, type BuildProgress } from './base-progress.ts'
import { writeRootfsLayout } from './base-layout.ts'
import type { ImageRecord, ImageStore } from './types.ts'

export type { BuildProgress, BuildPhase } from './base-progress.ts'

export interface BaseImageOptions {
  /** Debian suite (codename); default bookworm. */
  suite?: string
  /** Default `debian:<suite>`, and then `debian:latest` as well. */
  tag?: string
  /** Archive URL; default the host's apt sources, else deb.debian.org. */
  mirror?: string
  /** Build even when the tag exists. */
  force?: boolean
  onProgress?: (p: BuildProgress) => void
  /** Scratch space for the rootfs tar and the OCI layout; default os.tmpdir(). */
  workDir?: string
  /** Stops mmdebstrap (SIGTERM; it removes its own temp dir) and rejects with unavailable. */
  signal?: AbortSignal
}

/** On top of variant=apt (essential + apt): TLS roots for https mirrors, an init that reaps zombies, ps/top. */
export const basePackages = ['ca-certificates', 'tini', 'procps']

/** Docs, man pages and translations are most of a minimal system's size; dpkg keeps excluding them inside machines too. */
const dpkgExcludes = [
  'path-exclude=/usr/share/man/*', 'path-exclude=/usr/share/doc/*', 'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/locale/*', 'path-include=/usr/share/locale/locale.alias', 'path-exclude=/usr/share/info/*',
]

/** Logs and `-old` backups carry build timestamps and nothing a machine needs. */
const tidyHook = 'rm -rf "$1"/var/log/apt/* "$1"/var/log/dpkg.log "$1"/var/log/alternatives.log "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old'

/**
 * Builds (or, unless `force`, returns the already-tagged) Debian base image.
 * Throws HangarError unavailable when mmdebstrap is missing or the archive is unreachable.
 */
export async function buildDebianBase(store: ImageStore, opts: BaseImageOptions = {}): Promise<ImageRecord> {
  const suite = opts.suite ?? 'bookworm'
  if (!/^[a-z][a-z0-9-]{1,30}$/.test(suite)) throw new HangarError('invalid_argument', `"${suite}" is not a Debian suite name`, { hint: 'use a codename such as bookworm or trixie' })
  const tag = opts.tag ?? `debian:${suite}`
  if (!opts.force) {
    const existing = await store.resolve(tag).catch((e: unknown) => (isHangarError(e) && e.code === 'image_not_found' ? null : Promise.reject(e)))
    if (existing) return existing
  }
  const tags = opts.tag === undefined ? [tag, 'debian:latest'] : [tag]
  const report = (p: BuildProgress): void => {
    try {
      opts.onProgress?.(p)
    } catch {
      /* a listener's failure is not the build's */
    }
  }
  const work = await mkdtemp(join(opts.workDir ?? tmpdir(), 'hangar-base-'))
  try {
    const sources = imageSources(await hostSources(), suite, opts.mirror)
    const created = new Date(Math.floor(Date.now() / 1000) * 1000)
    const rootfs = join(work, 'rootfs.tar')
    await mmdebstrapRootfs(rootfs, { suite, sources, created, onProgress: report, ...(opts.signal ? { signal: opts.signal } : {}) })
    const layout = await writeRootfsLayout(join(work, 'oci'), rootfs, { tags, suite, created, sources, onProgress: report })
    report({ phase: 'importing', message: `importing into the image store as ${tags.join(', ')}` })
    const records = await store.importFile(layout)
    const record = records.find((r) => r.ref === tag) ?? records[0]!
    report({ phase: 'done', message: `built ${record.ref} (${(record.size / 1e6).toFixed(1)} MB compressed)`, percent: 100 })
    return record
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** Runs mmdebstrap into a tar at `file`, reporting its phases; exported for the benchmark. */
export async function mmdebstrapRootfs(
  file: string, opts: { suite: string; sources: string[]; created: Date; include?: string[]; onProgress?: (p: BuildProgress) => void; signal?: AbortSignal },
): Promise<void> {
  const args = [
    '--verbose', '--mode=root', '--variant=apt', `--include=${[...basePackages, ...(opts.include ?? [])].join(',')}`,
    // Merged /usr by symlinks, as debootstrap does: the usrmerge package would pull in perl.
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    // The runtime mounts /dev; device nodes in a layer are only trouble.
    '--skip=output/dev',
    '--aptopt=Acquire::Languages "none"',
    ...dpkgExcludes.map((o) => `--dpkgopt=${o}`),
    `--customize-hook=${tidyHook}`,
    '--format=tar', opts.suite, file, ...opts.sources,
  ]
  const parser = new MmdebstrapProgress()
  const tail: string[] = []
  const child = spawn('mmdebstrap', args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    // A process group of its own: when its tarball step fails, mmdebstrap sends SIGHUP to its whole
    // group to tear its helpers down, and in ours that hangs up the daemon (and whoever started it).
    detached: true,
    ...(opts.signal ? { signal: opts.signal } : {}),
    // Clamps file times to the build date, so the same packages give the same layer.
    env: { ...process.env, SOURCE_DATE_EPOCH: String(Math.floor(opts.created.getTime() / 1000)), DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C.UTF-8' },
  })
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  createInterface({ input: child.stderr }).on('line', (line) => {
    tail.push(line)
    if (tail.length > 40) tail.shift()
    const ev = parser.push(line)
    if (ev) opts.onProgress?.(ev)
  })
  const code = await exited.catch((e: NodeJS.ErrnoException) => {
    if (e.name === 'AbortError') throw new HangarError('unavailable', 'the base image build was cancelled (the daemon is stopping)', { hint: 'run `hangar image build-base` again', cause: e })
    if (e.code === 'ENOENT') throw new HangarError('unavailable', 'mmdebstrap is not installed', { hint: 'apt-get install mmdebstrap (./hangar up installs it), then run `hangar image build-base`', cause: e })
    throw e
  })
  if (code !== 0 || !(await stat(file).then((s) => s.size > 0, () => false))) throw mmdebstrapError(code, tail, opts)
}

/** The archive unreachable is the common case (offline host, no DNS); a missing suite is the caller's. */
function mmdebstrapError(code: number | null, tail: string[], opts: { suite: string; sources: string[] }): HangarError {
  const text = tail.join('\n')
  const details = { exit_code: code, stderr: tail.slice(-15), sources: opts.sources }
  const archive = opts.sources[0]?.split(' ')[1] ?? 'the archive'
  if (/Temporary failure resolving|Could not resolve|Could not connect|Unable to connect|Connection timed out|Network is unreachable|No route to host/i.test(text)) {
    return new HangarError('unavailable', `cannot reach the Debian archive ${archive}`, { details, hint: 'check the host\'s network, DNS and /etc/apt/sources.list.d/, then run `hangar image build-base`' })
  }
  if (/404\s+Not Found|does not have a Release file|no Release file/i.test(text)) {
    return new HangarError('invalid_argument', `suite "${opts.suite}" is not on ${archive}`, { details, hint: 'use a suite the archive carries, e.g. bookworm' })
  }
  return new HangarError('internal', `mmdebstrap failed (exit ${code}): ${tail.filter((l) => /^E: /.test(l)).join('; ') || tail.at(-1) || 'no output'}`, {
    details, hint: 'see details.stderr; run `hangar image build-base --force` to retry',
  })
}
