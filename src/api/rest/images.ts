/** /v1/images: Hangar's own image routes (the OCI registry under /v2 comes with the Images work). */
import { mkdtemp, rm } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Platform } from '../../platform/index.ts'
import { HangarError } from '../../errors.ts'
import type { RouteDef } from './route.ts'

export function imageRoutes(platform: Platform): RouteDef[] {
  return [
    {
      method: 'get', path: '/v1/images', tag: 'images', summary: 'List local images',
      handler: async (c) => c.json(await platform.images.list()),
    },
    {
      method: 'get', path: '/v1/images/:ref{.+}', tag: 'images', summary: 'Inspect a local image',
      handler: async (c) => c.json(await platform.images.resolve(decodeURIComponent(c.req.param('ref') as string))),
    },
    {
      method: 'post', path: '/v1/images/import', tag: 'images', summary: 'Import an OCI archive or docker-save tarball sent as the request body', status: 201,
      query: { tag: 'tag the imported image with this reference' },
      handler: async (c) => {
        const body = c.req.raw.body
        if (!body) throw new HangarError('invalid_argument', 'send the archive as the request body (Content-Type: application/x-tar)')
        const dir = await mkdtemp(join(tmpdir(), 'hangar-import-'))
        try {
          const file = join(dir, 'image.tar')
          await pipeline(Readable.fromWeb(body as never), createWriteStream(file))
          const tag = c.req.query('tag')
          return c.json(await platform.images.importFile(file, tag ? { tag } : {}), 201)
        } finally {
          await rm(dir, { recursive: true, force: true })
        }
      },
    },
    {
      method: 'delete', path: '/v1/images/:ref{.+}', tag: 'images', summary: 'Remove an image tag',
      handler: async (c) => {
        await platform.images.remove(decodeURIComponent(c.req.param('ref') as string))
        return c.json({ ok: true })
      },
    },
  ]
}
