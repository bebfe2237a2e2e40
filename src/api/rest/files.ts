/**
 * /v1/apps/{app}/machines/{id}/fs/…: files in a machine, running or stopped, with Sprites'
 * paths and parameters (`path`, `workingDir`, `mode`, `mkdirParents`, `recursive`…). Bytes go
 * both ways as streams, of any size: fs/read and GET fs/tar answer application/octet-stream
 * (application/x-tar); fs/write and PUT fs/tar take the raw body.
 */
import { Readable } from 'node:stream'
import type { Context } from 'hono'
import type { Platform } from '../../platform/index.ts'
import { fsChmodSchema, fsChownSchema, fsCopySchema, fsRenameSchema } from '../../platform/index.ts'
import { readJson, type RouteDef } from './route.ts'

const F = '/v1/apps/:app/machines/:id/fs'
const ids = (c: Context): [string, string] => [c.req.param('app') as string, c.req.param('id') as string]
const body = (c: Context): Readable | null => (c.req.raw.body ? Readable.fromWeb(c.req.raw.body as never) : null)

const where = { path: 'a path inside the machine; relative paths resolve against workingDir', workingDir: 'absolute; default /' }

/** A byte stream as the response; a client that goes away stops the helper behind it. */
function streamed(c: Context, stream: Readable, type: string, headers: Record<string, string> = {}): Response {
  return c.body(Readable.toWeb(stream) as ReadableStream, 200, { 'content-type': type, ...headers })
}

export function fileRoutes(platform: Platform): RouteDef[] {
  const pf = platform.files
  return [
    {
      method: 'get', path: `${F}/read`, access: { action: 'exec' }, tag: 'files', summary: "A file's bytes (application/octet-stream), running or stopped machine", query: where,
      handler: async (c) => {
        const r = await pf.read(...ids(c), c.req.query())
        return streamed(c, r.stream, 'application/octet-stream', { 'x-file-mode': r.mode, 'x-file-size': String(r.size) })
      },
    },
    {
      method: 'put', path: `${F}/write`, access: { action: 'exec' }, tag: 'files', summary: 'Write the body to a file, atomically (temp file + rename); a path ending in / makes a directory. Answers {path, size, mode}',
      query: { ...where, mode: 'octal, e.g. 0755; default the old file\'s, else 0644', mkdirParents: 'true: make missing parent directories' },
      handler: async (c) => c.json(await pf.write(...ids(c), c.req.query(), body(c))),
    },
    {
      method: 'get', path: `${F}/list`, access: { action: 'exec' }, tag: 'files', summary: 'A directory\'s entries {path, entries: [{name, path, type, size, mode, modTime, isDir, uid, gid, target?}], count, truncated}; a file lists as itself',
      query: { ...where, recursive: 'true: the whole tree, depth-first', pattern: 'a glob the names must match', limit: 'most entries (default 1000, max 10000); truncated says there were more' },
      handler: async (c) => c.json(await pf.list(...ids(c), c.req.query())),
    },
    {
      method: 'delete', path: `${F}/delete`, access: { action: 'exec' }, tag: 'files', summary: 'Delete a file or an empty directory (recursive=true: a whole tree); answers {deleted, count}',
      query: { ...where, recursive: 'true: delete a directory and everything in it' },
      handler: async (c) => c.json(await pf.delete(...ids(c), c.req.query())),
    },
    {
      method: 'post', path: `${F}/rename`, access: { action: 'exec' }, tag: 'files', summary: 'Rename (move) source to dest', body: fsRenameSchema,
      handler: async (c) => c.json(await pf.rename(...ids(c), await readJson(c))),
    },
    {
      method: 'post', path: `${F}/copy`, access: { action: 'exec' }, tag: 'files', summary: 'Copy source to dest (recursive for a directory; preserveAttrs keeps owner and times)', body: fsCopySchema,
      handler: async (c) => c.json(await pf.copy(...ids(c), await readJson(c))),
    },
    {
      method: 'post', path: `${F}/chmod`, access: { action: 'exec' }, tag: 'files', summary: 'Change the mode (octal string or number)', body: fsChmodSchema,
      handler: async (c) => c.json(await pf.chmod(...ids(c), await readJson(c))),
    },
    {
      method: 'post', path: `${F}/chown`, access: { action: 'exec' }, tag: 'files', summary: 'Change owner and group, as the machine numbers them', body: fsChownSchema,
      handler: async (c) => c.json(await pf.chown(...ids(c), await readJson(c))),
    },
    {
      method: 'get', path: `${F}/tar`, access: { action: 'exec' }, tag: 'files', summary: 'A directory as a tar stream (application/x-tar): symlinks as symlinks, modes, numeric owners', query: where,
      handler: async (c) => streamed(c, (await pf.tarDown(...ids(c), c.req.query())).stream, 'application/x-tar'),
    },
    {
      method: 'put', path: `${F}/tar`, access: { action: 'exec' }, tag: 'files', summary: 'Unpack the tar body into a directory (owners kept by number)',
      query: { ...where, mkdirParents: 'true: make the directory (and its parents) first' },
      handler: async (c) => c.json(await pf.tarUp(...ids(c), c.req.query(), body(c))),
    },
  ]
}
