/** /v1/images: Hangar's own image routes (the OCI registry itself is /v2, src/images/registry). */
import { mkdtemp, rm } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { streamSSE } from 'hono/streaming'
import type { Platform } from '../../platform/index.ts'
import { buildBaseSchema, pullSchema, pushSchema } from '../../platform/index.ts'
import { HangarError, toHangarError } from '../../errors.ts'
import type { Context } from 'hono'
import { readJson, type RouteDef } from './route.ts'

/** The {ref} path parameter, decoded; bad percent-encoding is a 400, not a 500. */
function refParam(raw: string | undefined): string {
  try {
    return decodeURIComponent(raw ?? '')
  } catch {
    throw new HangarError('invalid_image_ref', `"${raw}" is not a valid image reference (bad percent-encoding)`)
  }
}

export function imageRoutes(platform: Platform): RouteDef[] {
  return [
    {
      method: 'get', path: '/v1/images', access: { action: 'read' }, tag: 'images', summary: 'List local images',
      handler: async (c) => c.json(await platform.images.list()),
    },
    {
      method: 'get', path: '/v1/images/:ref{.+}', access: { action: 'read' }, tag: 'images', summary: 'Inspect a local image',
      handler: async (c) => c.json(await platform.images.resolve(refParam(c.req.param('ref')))),
    },
    {
      method: 'post', path: '/v1/images/import', access: { action: 'images' }, tag: 'images', summary: 'Import an OCI archive or docker-save tarball sent as the request body', status: 201,
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
      method: 'post', path: '/v1/images/build-base', access: { action: 'images' }, tag: 'images', body: buildBaseSchema,
      summary: 'Build the Debian base image with mmdebstrap (minutes); with Accept: text/event-stream, streams progress events, then done or error',
      handler: async (c) => progressOrJson(c, (body, onProgress) => platform.images.buildBase(body, onProgress)),
    },
    {
      method: 'post', path: '/v1/images/pull', access: { action: 'images' }, tag: 'images', body: pullSchema,
      summary: 'Pull an image from a registry (e.g. another Hangar\'s /v2) into the store; with Accept: text/event-stream, streams progress events, then done or error',
      // A client that goes away stops its pull (build-base and push run on: others may share a build).
      handler: async (c) => progressOrJson(c, (body, onProgress) => platform.images.pull(body, onProgress, c.req.raw.signal)),
    },
    {
      method: 'post', path: '/v1/images/push', access: { action: 'images' }, tag: 'images', body: pushSchema,
      summary: 'Push a local image to a registry; with Accept: text/event-stream, streams progress events, then done or error',
      handler: async (c) => progressOrJson(c, (body, onProgress) => platform.images.push(body, onProgress)),
    },
    {
      method: 'post', path: '/v1/images/gc', access: { action: 'images' }, tag: 'images',
      summary: 'Delete blobs and unpacked layers no tag and no machine uses; returns { blobsRemoved, bytesFreed, layersRemoved }',
      handler: async (c) => c.json(await platform.images.gc()),
    },
    {
      method: 'delete', path: '/v1/images/:ref{.+}', access: { action: 'images' }, tag: 'images', summary: 'Remove an image tag (its blobs go at the next gc)',
      handler: async (c) => {
        await platform.images.remove(refParam(c.req.param('ref')))
        return c.json({ ok: true })
      },
    },
  ]
}

/**
 * JSON when the client wants JSON; Server-Sent Events (progress…, then done or error) when it asks for
 * text/event-stream. A bad body throws before the stream opens, so it is still a plain 400.
 */
async function progressOrJson<P>(c: Context, start: (body: unknown, onProgress?: (p: P) => void) => Promise<unknown>): Promise<Response> {
  const body = await readJson(c)
  if (!(c.req.header('accept') ?? '').includes('text/event-stream')) return c.json(await start(body))
  // Events that come before the stream opens wait in `early`.
  const early: P[] = []
  let forward: ((p: P) => void) | null = null
  const done = start(body, (p) => (forward ? forward(p) : early.push(p)))
  return streamSSE(c, async (stream) => {
    // Chained so events keep their order; a client that went away stops the work only where `start` was given the request's signal.
    let chain = Promise.resolve()
    const send = (event: string, data: unknown): Promise<void> =>
      (chain = chain.then(() => stream.writeSSE({ event, data: JSON.stringify(data) })).catch(() => {}))
    forward = (p) => void send('progress', p)
    for (const p of early.splice(0)) forward(p)
    await done.then((record) => send('done', record), (e: unknown) => send('error', toHangarError(e).toJSON()))
  })
}
