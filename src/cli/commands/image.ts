/** hangar image import|build-base|pull|push|list|inspect|rm|gc */
import { openAsBlob } from 'node:fs'
import { resolve } from 'node:path'
import { HangarError } from '../../errors.ts'
import type { BuildProgress } from '../../sdk/index.ts'
import type { Command } from '../command.ts'
import { table } from '../output.ts'

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`

export const image: Record<string, Command> = {
  import: {
    usage: 'hangar image import FILE [--tag NAME:TAG]',
    summary: 'Import an OCI archive or a `docker save` tarball',
    flags: { tag: { type: 'string', short: 't' } },
    async run({ positionals, flags, out, client }) {
      const file = positionals[0]
      if (!file) throw new HangarError('invalid_argument', `missing FILE; usage: ${this.usage}`)
      let blob: Blob
      try {
        blob = await openAsBlob(resolve(file))
      } catch (e) {
        throw new HangarError('invalid_argument', `cannot read ${file}: ${(e as Error).message}`, { hint: 'give the path of an OCI archive (.tar) or docker-save tarball' })
      }
      out.note(`uploading ${mb(blob.size)}…`)
      const imgs = await client().images.import(blob, flags.tag ? { tag: flags.tag as string } : {})
      out.result(imgs, (list) => list.map((i) => `imported ${i.ref} (${i.digest.slice(0, 19)}, ${mb(i.size)}); next: hangar machine run ${i.ref}`))
    },
  },
  'build-base': {
    usage: 'hangar image build-base [debian:SUITE | SUITE] [--tag NAME:TAG] [--force]',
    summary: 'Build the Debian base image (apt, ca-certificates, bash, tini) with mmdebstrap on the daemon host',
    flags: { tag: { type: 'string', short: 't' }, force: { type: 'boolean' } },
    async run({ positionals, flags, out, client }) {
      const arg = positionals[0] ?? 'debian:bookworm'
      const m = /^(?:debian:)?([a-z][a-z0-9-]+)$/.exec(arg)
      if (!m) throw new HangarError('invalid_argument', `"${arg}" is not debian:SUITE or SUITE; usage: ${this.usage}`)
      const show = out.json ? () => {} : progressLine()
      const img = await client().images.buildBase({ suite: m[1]!, ...(flags.tag ? { tag: flags.tag as string } : {}), ...(flags.force ? { force: true } : {}) }, show)
      show(null)
      out.result(img, (i) => `${i.ref} ${i.digest.slice(0, 19)} (${mb(i.size)}); next: hangar machine run ${i.repository} --app demo`)
    },
  },
  pull: {
    usage: 'hangar image pull REF [--creds USER:PASSWORD]',
    summary: 'Pull an image from a registry (REF names it, e.g. 127.0.0.1:4280/robots/busybox:1) into the daemon\'s store',
    flags: { creds: { type: 'string' } },
    async run({ positionals, flags, out, client }) {
      if (!positionals[0]) throw new HangarError('invalid_argument', `missing REF; usage: ${this.usage}`)
      const show = out.json ? () => {} : transferLine()
      const img = await client().images.pull(positionals[0], { ...creds(flags.creds), onProgress: show })
      show(null)
      out.result(img, (i) => `pulled ${i.ref} (${i.digest.slice(0, 19)}, ${mb(i.size)}); next: hangar machine run ${i.ref}`)
    },
  },
  push: {
    usage: 'hangar image push REF [DEST] [--creds USER:PASSWORD]',
    summary: 'Push a local image to a registry; DEST (default REF) names it, e.g. 127.0.0.1:4280/robots/busybox:1',
    flags: { creds: { type: 'string' } },
    async run({ positionals, flags, out, client }) {
      if (!positionals[0]) throw new HangarError('invalid_argument', `missing REF; usage: ${this.usage}`)
      const show = out.json ? () => {} : transferLine()
      const r = await client().images.push(positionals[0], positionals[1], { ...creds(flags.creds), onProgress: show })
      show(null)
      out.result(r, (x) => `pushed ${x.ref} (${x.digest.slice(0, 19)})`)
    },
  },
  list: {
    usage: 'hangar image list',
    summary: 'List local images',
    async run({ out, client }) {
      const list = await client().images.list()
      out.result(list, (l) => (l.length ? table([['REF', 'DIGEST', 'SIZE'], ...l.map((i) => [i.ref, i.digest.slice(0, 19), mb(i.size)])]) : 'no images; import one with `hangar image import FILE`'))
    },
  },
  inspect: {
    usage: 'hangar image inspect REF',
    summary: 'Show an image and its config',
    async run({ positionals, out, client }) {
      if (!positionals[0]) throw new HangarError('invalid_argument', `missing REF; usage: ${this.usage}`)
      out.result(await client().images.get(positionals[0]), (i) => JSON.stringify(i, null, 2))
    },
  },
  rm: {
    usage: 'hangar image rm REF',
    summary: 'Remove an image tag',
    async run({ positionals, out, client }) {
      if (!positionals[0]) throw new HangarError('invalid_argument', `missing REF; usage: ${this.usage}`)
      await client().images.remove(positionals[0])
      out.result({ ok: true }, () => `removed ${positionals[0]}; its blobs and layers go at the next \`hangar image gc\``)
    },
  },
  gc: {
    usage: 'hangar image gc',
    summary: 'Delete blobs and unpacked layers that no tag and no machine uses',
    async run({ out, client }) {
      const r = await client().images.gc()
      out.result(r, (x) => `removed ${x.blobsRemoved} blob${x.blobsRemoved === 1 ? '' : 's'} and ${x.layersRemoved} unpacked layer${x.layersRemoved === 1 ? '' : 's'}, freed ${mb(x.bytesFreed)}`)
    },
  },
}

/** One status line on stderr, redrawn in place on a terminal; elsewhere (logs, CI) one line per phase. */
function progressLine(): (p: BuildProgress | null) => void {
  const tty = process.stderr.isTTY
  let phase = ''
  return (p) => {
    if (p === null) {
      if (tty && phase) process.stderr.write('\n')
      return
    }
    const pct = p.percent === undefined ? '' : ` ${String(p.percent).padStart(3)}%`
    const text = `${p.phase}${pct}  ${p.message}`
    if (tty) process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns || 80) - 1)}`)
    else if (p.phase !== phase) process.stderr.write(text + '\n')
    phase = p.phase
  }
}

/** --creds USER:PASSWORD, as skopeo spells it; for a Hangar registry any user and an API token. */
function creds(v: unknown): { credentials?: { username: string; password: string } } {
  if (typeof v !== 'string') return {}
  const i = v.indexOf(':')
  if (i === -1) throw new HangarError('invalid_argument', '--creds takes USER:PASSWORD')
  return { credentials: { username: v.slice(0, i), password: v.slice(i + 1) } }
}

/** One line on stderr per pull or push event, redrawn in place on a terminal. */
function transferLine(): (p: { message: string } | null) => void {
  const tty = process.stderr.isTTY
  let last = 0
  return (p) => {
    if (p === null) return void (tty && last && process.stderr.write('\n'))
    if (tty) process.stderr.write(`\r\x1b[K${p.message.slice(0, (process.stderr.columns || 80) - 1)}`)
    else if (Date.now() - last > 1000 || !/ \d+\/\d+$/.test(p.message)) process.stderr.write(p.message + '\n')
    last = Date.now()
  }
}
