/** Image tools: list the local images, import an archive, build the Debian base image, pull from a registry. */
import { stat } from 'node:fs/promises'
import { z } from 'zod'
import { HangarError } from '../../../errors.ts'
import type { BuildProgress } from '../../../platform/index.ts'
import type { ImageRecord } from '../../../images/types.ts'
import { pageItems } from '../budget.ts'
import type { CallLog } from '../logging.ts'
import { creates, defineTool, readOnly } from '../tool.ts'
import { limit, offset } from './fields.ts'

const imageLine = z.object({
  ref: z.string(),
  digest: z.string(),
  size_bytes: z.number().int(),
  created: z.string(),
  exposed_ports: z.array(z.string()),
  command: z.array(z.string()).meta({ description: 'What a machine runs by default: ENTRYPOINT then CMD.' }),
})

function line(i: ImageRecord): z.infer<typeof imageLine> {
  return { ref: i.ref, digest: i.digest, size_bytes: i.size, created: i.created, exposed_ports: i.config.exposedPorts, command: [...i.config.entrypoint, ...i.config.cmd] }
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`

const phases: BuildProgress['phase'][] = ['resolving', 'downloading', 'extracting', 'installing', 'packing', 'importing', 'done']

/** One number across all phases, so a client's progress bar only moves forward. */
export function overallProgress(p: BuildProgress): number {
  return Math.max(0, phases.indexOf(p.phase)) * 100 + Math.min(100, Math.max(0, p.percent ?? 0))
}

export const imageTools = [
  defineTool({
    name: 'image_list',
    action: 'read',
    title: 'List images',
    description: 'List the images machines can run on this Hangar, with their default command and ports. Use it to pick the image for machine_run.',
    input: z.object({ limit, offset }),
    output: z.object({ images: z.array(imageLine), total: z.number().int(), next_offset: z.number().int().nullable() }),
    annotations: readOnly,
    async run({ limit, offset }, { backend }) {
      const page = pageItems((await backend.images.list()).map(line), offset, limit)
      const rows = page.items.map((i) => `${i.ref}  ${mb(i.size_bytes)}  runs: ${i.command.join(' ') || '-'}${i.exposed_ports.length ? `  ports: ${i.exposed_ports.join(',')}` : ''}`)
      const more = page.next_offset !== null ? `\n[${page.total - page.next_offset} more: call image_list with offset=${page.next_offset}]` : ''
      return {
        structured: { images: page.items, total: page.total, next_offset: page.next_offset },
        text: page.total ? `${page.total} image(s):\n${rows.join('\n')}${more}` : 'no images; import one with image_import',
      }
    },
  }),

  defineTool({
    name: 'image_import',
    action: 'images',
    title: 'Import an image archive',
    description:
      'Import an OCI archive or a `docker save` tarball so machines can run it. The path is a file on the machine running `hangar mcp` (stdio), which uploads it to the daemon; over HTTP (/mcp) this tool refuses, since it would read files on the daemon host.',
    input: z.object({
      path: z.string().min(1).meta({ description: 'Absolute path of the .tar archive.', examples: ['/srv/images/app.tar'] }),
      tag: z.string().min(1).optional().meta({ description: 'Reference to tag the image as.', examples: ['myapp:v1'] }),
    }),
    output: z.object({ images: z.array(imageLine) }),
    annotations: { ...creates, idempotentHint: true },
    async run({ path, tag }, { backend }) {
      const file = await stat(path).catch(() => null)
      if (!file?.isFile()) {
        throw new HangarError('invalid_argument', `no file at ${path} on the host running the MCP server`, { hint: 'give the absolute path of an OCI archive or docker-save tarball on that host' })
      }
      const images = (await backend.images.importFile(path, tag ? { tag } : {})).map(line)
      return { structured: { images }, text: `imported ${images.map((i) => i.ref).join(', ')}; next: machine_run with image "${images[0]?.ref ?? tag}"` }
    },
  }),

  defineTool({
    name: 'image_build_base',
    action: 'images',
    title: 'Build the Debian base image',
    description:
      'Build a minimal Debian image (debian:<suite>, also debian:latest) from the Debian archive, for machines that need apt. Takes a minute or two the first time and sends progress notifications; returns at once when the image already exists (unless force).',
    input: z.object({
      suite: z.string().regex(/^[a-z][a-z0-9-]{1,30}$/).default('bookworm').meta({ description: 'Debian codename.', examples: ['bookworm', 'trixie'] }),
      tag: z.string().min(1).max(255).optional().meta({ description: 'Reference to tag it as (default debian:<suite> and debian:latest).' }),
      force: z.boolean().default(false).meta({ description: 'Rebuild even if the image exists.' }),
    }),
    output: z.object({ image: imageLine }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async run({ suite, tag, force }, { backend, progress, log }) {
      const total = (phases.length - 1) * 100
      const logStep = phaseLog(log)
      const img = await backend.images.buildBase({ suite, ...(tag ? { tag } : {}), ...(force ? { force } : {}) }, (p) => {
        void progress(overallProgress(p), total, `${p.phase}${p.percent !== undefined ? ` ${p.percent}%` : ''}: ${p.message}`)
        logStep(p.phase, p.message, p.percent)
      })
      await log.send('info', `${img.ref} is ready (${mb(img.size)})`, { ref: img.ref, digest: img.digest })
      return { structured: { image: line(img) }, text: `built ${img.ref} (${mb(img.size)}); next: machine_run with image "${img.ref}"` }
    },
  }),

  defineTool({
    name: 'image_pull',
    action: 'images',
    title: 'Pull an image from a registry',
    description:
      'Pull an image from the registry its reference names (anonymously) so machines can run it, or refresh a tag. machine_run pulls a missing remote image by itself; use this to fetch ahead of time. Big images take a while: sends progress notifications and log messages.',
    input: z.object({
      ref: z.string().min(1).max(512).meta({ description: 'Image reference naming its registry host.', examples: ['ghcr.io/org/app:1', 'docker.io/library/alpine:3.20'] }),
    }),
    output: z.object({ image: imageLine }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async run({ ref }, { backend, progress, log, signal }) {
      const logStep = phaseLog(log)
      // Bytes per blob, kept at their highest: a retried blob restarts its count, and progress must never go back.
      const received = new Map<string, number>()
      const img = await backend.images.pull(ref, (p) => {
        if (p.digest && p.bytes !== undefined) received.set(p.digest, Math.max(received.get(p.digest) ?? 0, p.bytes))
        const bytes = [...received.values()].reduce((a, b) => a + b, 0)
        void progress(bytes, undefined, p.message)
        const percent = p.bytes !== undefined && p.total ? Math.floor((p.bytes / p.total) * 100) : undefined
        logStep(p.phase === 'blob' ? `blob ${p.digest?.slice(0, 19) ?? ''}` : p.phase, p.message, percent)
      }, signal) // a cancelled call stops the pull: its downloads end and nothing is tagged
      return { structured: { image: line(img) }, text: `pulled ${img.ref} (${mb(img.size)}); next: machine_run with image "${img.ref}"` }
    },
  }),
]

/**
 * Log lines for a long job that reports steps with percentages: each new step at info, and
 * within a step a debug line per tenth done, so a build or a pull logs tens of lines, not hundreds.
 */
function phaseLog(log: CallLog): (step: string, message: string, percent?: number) => void {
  let current = ''
  let tenth = -1
  return (step, message, percent) => {
    if (step !== current) {
      current = step
      tenth = percent === undefined ? -1 : Math.floor(percent / 10)
      void log.send('info', message, { step, ...(percent !== undefined ? { percent } : {}) })
    } else if (percent !== undefined && Math.floor(percent / 10) > tenth) {
      tenth = Math.floor(percent / 10)
      void log.send('debug', message, { step, percent })
    }
  }
}
