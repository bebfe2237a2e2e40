/**
 * Files in a machine, running or stopped: Sprites' filesystem API (same operations and parameter
 * names) under /v1/apps/{app}/machines/{id}/fs. Bytes travel raw both ways (`bytes`).
 */
import { z } from 'zod'
import { machineParams } from './params.ts'
import { flag } from './query.ts'
import { op } from './spec.ts'

const F = '/v1/apps/:app/machines/:id/fs'

/** Entries one listing returns at most, and the default. */
export const listLimits = { default: 1000, max: 10_000 }

const octalMode = z.string().regex(/^0?[0-7]{1,4}$/, 'an octal mode like "0644" or "755"').transform((s) => parseInt(s, 8))
/** Octal as a string ("0755", "755") the way chmod takes it, or the number itself. */
const mode = z.union([octalMode, z.number().int().min(0).max(0o7777)])
const id = z.union([z.number().int(), z.string().regex(/^-?\d+$/).transform(Number)]).pipe(z.number().int().min(-1).max(2 ** 32 - 2))
const where = {
  path: z.string().describe('a path inside the machine; relative paths resolve against workingDir'),
  workingDir: z.string().optional().describe('absolute; default /'),
}
const asRoot = flag.describe('accepted for Sprites\' clients; every operation runs as the machine\'s root')

export const fsReadSchema = z.object({ ...where })
export const fsWriteSchema = z.object({
  ...where,
  mode: mode.optional().describe('octal, e.g. 0755; default the old file\'s, else 0644'),
  mkdirParents: flag.describe('true: make missing parent directories'),
})
export const fsListSchema = z.object({
  ...where,
  recursive: flag.describe('true: the whole tree, depth-first'),
  pattern: z.string().max(256).optional().describe('a glob the names must match (applied to the listed entries)'),
  limit: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(1).max(listLimits.max)).optional()
    .describe(`most entries (default ${listLimits.default}, max ${listLimits.max}); truncated says there were more`),
})
export const fsDeleteSchema = z.object({ ...where, recursive: flag.describe('true: delete a directory and everything in it'), asRoot })
export const fsRenameSchema = z.strictObject({ source: z.string(), dest: z.string(), workingDir: z.string().optional(), asRoot })
export const fsCopySchema = z.strictObject({ source: z.string(), dest: z.string(), workingDir: z.string().optional(), recursive: flag, preserveAttrs: flag, asRoot })
export const fsChmodSchema = z.strictObject({ ...where, mode, recursive: flag, asRoot })
export const fsChownSchema = z.strictObject({ ...where, uid: id.optional(), gid: id.optional(), recursive: flag, asRoot })

export const fileEntryView = z.object({
  name: z.string(),
  path: z.string().describe('absolute inside the machine'),
  type: z.enum(['file', 'directory', 'symlink', 'other']),
  size: z.number(),
  mode: z.string().describe('octal, as chmod takes it ("0644")'),
  uid: z.number(),
  gid: z.number(),
  modTime: z.string().describe('RFC 3339'),
  isDir: z.boolean(),
  target: z.string().optional().describe('a symlink\'s target, as written'),
})
export type FileEntryView = z.infer<typeof fileEntryView>

export const listView = z.object({
  path: z.string(),
  entries: z.array(fileEntryView),
  count: z.number(),
  truncated: z.boolean().describe('more entries exist than were listed (the limit)'),
})
export type ListView = z.infer<typeof listView>

const written = z.object({ path: z.string(), size: z.number(), mode: z.string() })
const moved = z.object({ source: z.string(), dest: z.string() })
const common = { tag: 'files', params: machineParams, access: { action: 'exec' as const }, states: 'files' as const }

export const fsRead = op({
  ...common, id: 'fs.read', method: 'get', path: `${F}/read`, input: fsReadSchema, output: z.instanceof(Uint8Array), bytes: 'out',
  summary: 'A file\'s bytes (application/octet-stream; x-file-mode and x-file-size headers), running or stopped machine',
})
export const fsWrite = op({
  ...common, id: 'fs.write', method: 'put', path: `${F}/write`, input: fsWriteSchema, output: written, bytes: 'in',
  summary: 'Write the body to a file, atomically (temp file + rename); a path ending in / makes a directory. Answers {path, size, mode}',
})
export const fsList = op({
  ...common, id: 'fs.list', method: 'get', path: `${F}/list`, input: fsListSchema, output: listView,
  summary: 'A directory\'s entries {path, entries: [{name, path, type, size, mode, modTime, isDir, uid, gid, target?}], count, truncated}; a file lists as itself',
})
export const fsDelete = op({
  ...common, id: 'fs.delete', method: 'delete', path: `${F}/delete`, input: fsDeleteSchema, output: z.object({ deleted: z.array(z.string()), count: z.number() }),
  summary: 'Delete a file or an empty directory (recursive=true: a whole tree); answers {deleted, count}',
})
export const fsRename = op({ ...common, id: 'fs.rename', method: 'post', path: `${F}/rename`, input: fsRenameSchema, output: moved, summary: 'Rename (move) source to dest' })
export const fsCopy = op({
  ...common, id: 'fs.copy', method: 'post', path: `${F}/copy`, input: fsCopySchema, output: moved,
  summary: 'Copy source to dest (recursive for a directory; preserveAttrs keeps owner and times)',
})
export const fsChmod = op({ ...common, id: 'fs.chmod', method: 'post', path: `${F}/chmod`, input: fsChmodSchema, output: z.object({ path: z.string(), mode: z.string() }), summary: 'Change the mode (octal string or number)' })
export const fsChown = op({
  ...common, id: 'fs.chown', method: 'post', path: `${F}/chown`, input: fsChownSchema, output: z.object({ path: z.string(), uid: z.number(), gid: z.number() }),
  summary: 'Change owner and group, as the machine numbers them',
})
export const fsTarDown = op({
  ...common, id: 'fs.tar_down', method: 'get', path: `${F}/tar`, input: fsReadSchema, output: z.instanceof(Uint8Array), bytes: 'out',
  summary: 'A directory as a tar stream (application/x-tar): symlinks as symlinks, modes, numeric owners',
})
export const fsTarUp = op({
  ...common, id: 'fs.tar_up', method: 'put', path: `${F}/tar`, input: fsWriteSchema, output: z.object({ path: z.string() }), bytes: 'in',
  summary: 'Unpack the tar body into a directory (owners kept by number); mkdirParents=true makes the directory first',
})
