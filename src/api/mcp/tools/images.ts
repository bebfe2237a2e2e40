/** Image tools: list the local images, import an archive, build the Debian base image. */
import { stat } from 'node:fs/promises'
import { z } from 'zod'
import { HangarError } from '../../../errors.ts'
import type { BuildProgress } from '../../../platform/index.ts'
import type { ImageRecord } from '../../../images/types.ts'
import { pageItems } from '../budget.ts'
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
    async run({ suite, tag, force }, { backend, progress }) {
      const total = (phases.length - 1) * 100
      const img = await backend.images.buildBase({ suite, ...(tag ? { tag } : {}), ...(force ? { force } : {}) }, (p) => {
        void progress(overallProgress(p), total, `${p.phase}${p.percent !== undefined ? ` ${p.percent}%` : ''}: ${p.message}`)
      })
      return { structured: { image: line(img) }, text: `built ${img.ref} (${mb(img.size)}); next: machine_run with image "${img.ref}"` }
    },
  }),
]
