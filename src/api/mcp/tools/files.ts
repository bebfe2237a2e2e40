/** Files in a machine, running or stopped, without exec: read, write, list, delete, rename. Reads and listings are bounded. */
import { z } from 'zod'
import { Readable } from 'node:stream'
import { fileEntryView, fsDelete, fsList, fsRead, fsRename, fsWrite } from '../../../ops/index.ts'
import { changes, destroys, opTool, readOnly } from '../tool.ts'
import { machineRef } from './fields.ts'

/** Bytes fs_read returns by default, and at most. */
const readBytes = { default: 16 * 1024, max: 1 << 20 }
/** Entries fs_list returns by default, and at most. */
const listEntries = { default: 100, max: 2000 }

const path = z.string().min(1).meta({ description: 'Absolute path inside the machine (relative paths start at /). Symlinks resolve inside the machine.', examples: ['/etc/hostname'] })

export const fileTools = [
  opTool(fsRead, {
    name: 'fs_read',
    title: 'Read a file in a machine',
    description:
      'Read a file inside a machine, running or stopped (no need to start it or to exec cat). Returns text, or base64 with encoding=base64 for binary files. Capped at max_bytes: truncated says so and size gives the whole length (for a later part of a big file, machine_exec with tail -c or dd).',
    input: z.object({
      ...machineRef,
      path,
      encoding: z.enum(['text', 'base64']).default('text').meta({ description: 'text (UTF-8) or base64 for binary content.' }),
      max_bytes: z.number().int().min(1).max(readBytes.max).default(readBytes.default).meta({ description: `Most bytes to return (default ${readBytes.default}).` }),
    }),
    output: z.object({
      path: z.string(),
      content: z.string(),
      encoding: z.enum(['text', 'base64']),
      size: z.number().int().meta({ description: 'The whole file\'s size in bytes.' }),
      truncated: z.boolean(),
      binary: z.boolean().meta({ description: 'The bytes are not UTF-8 text: read again with encoding=base64.' }),
    }),
    annotations: readOnly,
    async run({ app, id, path: p, encoding, max_bytes }, { backend, signal }) {
      const answer = await backend.run(fsRead, { app, id }, { path: p }, { signal })
      const r = { data: await head(answer.stream, max_bytes), size: Number(answer.headers?.['x-file-size'] ?? 0) }
      const truncated = r.size > r.data.length
      let binary = false
      let content: string
      if (encoding === 'base64') content = r.data.toString('base64')
      else {
        try {
          // A cut may split the last character: only a complete file must decode cleanly.
          content = new TextDecoder('utf-8', { fatal: !truncated }).decode(r.data).replace(truncated ? /\uFFFD{1,3}$/ : /$^/, '')
          binary = content.includes('\0')
        } catch {
          content = r.data.toString('latin1').replace(/[^\x09\x0a\x0d\x20-\x7e]/g, '.')
          binary = true
        }
      }
      const notes = [
        ...(truncated ? [`[truncated: showed ${r.data.length} of ${r.size} bytes; call fs_read with a larger max_bytes (up to ${readBytes.max})]`] : []),
        ...(binary && encoding === 'text' ? ['[binary content: call fs_read with encoding="base64"]'] : []),
      ]
      return { structured: { path: p, content, encoding, size: r.size, truncated, binary }, text: [content, ...notes].join('\n') }
    },
  }),

  opTool(fsWrite, {
    name: 'fs_write',
    title: 'Write a file in a machine',
    description:
      'Write a whole file inside a machine, running or stopped: the file is replaced atomically (never half-written). Use it to put code or config in place before starting a machine, or instead of heredocs through machine_exec. A path ending in / makes a directory.',
    input: z.object({
      ...machineRef,
      path,
      content: z.string().max(4 << 20).meta({ description: 'The file\'s content: text, or base64 with encoding=base64.' }),
      encoding: z.enum(['text', 'base64']).default('text'),
      mode: z.string().regex(/^0?[0-7]{3,4}$/).optional().meta({ description: 'Octal mode, e.g. "0755" for a script; default: the old file\'s, else 0644.' }),
      mkdir_parents: z.boolean().default(true).meta({ description: 'Make missing parent directories (default true).' }),
    }),
    output: z.object({ path: z.string(), size: z.number().int(), mode: z.string() }),
    annotations: changes,
    async run({ app, id, path: p, content, encoding, mode, mkdir_parents }, { backend }) {
      const data = Buffer.from(content, encoding === 'base64' ? 'base64' : 'utf8')
      const r = await backend.run(fsWrite, { app, id }, { path: p, ...(mode ? { mode } : {}), mkdirParents: mkdir_parents }, { body: Readable.from([data]) })
      return { structured: r, text: `wrote ${r.size} bytes to ${r.path} (mode ${r.mode})` }
    },
  }),

  opTool(fsList, {
    name: 'fs_list',
    title: 'List a directory in a machine',
    description:
      'List a directory inside a machine, running or stopped: names, types, sizes, modes, owners, symlink targets. recursive=true walks the tree depth-first. Capped at limit entries; truncated says there were more (list a subdirectory, or raise limit).',
    input: z.object({
      ...machineRef,
      path: path.default('/'),
      recursive: z.boolean().default(false),
      pattern: z.string().max(256).optional().meta({ description: 'Only names matching this glob, e.g. "*.py".' }),
      limit: z.number().int().min(1).max(listEntries.max).default(listEntries.default).meta({ description: `Most entries (default ${listEntries.default}).` }),
    }),
    output: z.object({ path: z.string(), entries: z.array(fileEntryView), count: z.number().int(), truncated: z.boolean() }),
    annotations: readOnly,
    async run({ app, id, path: p, recursive, pattern, limit }, { backend }) {
      const r = await backend.run(fsList, { app, id }, { path: p, recursive, limit, ...(pattern ? { pattern } : {}) })
      const lines = r.entries.map((e) => `${e.mode} ${String(e.uid).padStart(5)} ${String(e.gid).padStart(5)} ${String(e.size).padStart(10)}  ${recursive ? e.path : e.name}${e.isDir ? '/' : ''}${e.target !== undefined ? ` -> ${e.target}` : ''}`)
      const footer = r.truncated ? [`[truncated at ${limit} entries: list a subdirectory, or call fs_list with a larger limit (up to ${listEntries.max})]`] : []
      return { structured: r, text: [`${r.path}: ${r.count} entries`, ...lines, ...footer].join('\n') }
    },
  }),

  opTool(fsDelete, {
    name: 'fs_delete',
    title: 'Delete a file or directory in a machine',
    description: 'Delete a file or an empty directory inside a machine, running or stopped; recursive=true deletes a directory with everything in it.',
    input: z.object({ ...machineRef, path, recursive: z.boolean().default(false) }),
    output: z.object({ deleted: z.array(z.string()), count: z.number().int() }),
    annotations: destroys,
    async run({ app, id, path: p, recursive }, { backend }) {
      const r = await backend.run(fsDelete, { app, id }, { path: p, recursive })
      const shown = r.deleted.slice(0, 20)
      const more = r.count > shown.length ? [`[and ${r.count - shown.length} more]`] : []
      return { structured: { deleted: shown, count: r.count }, text: [`deleted ${r.count} path${r.count === 1 ? '' : 's'}`, ...shown, ...more].join('\n') }
    },
  }),

  opTool(fsRename, {
    name: 'fs_rename',
    title: 'Rename or move a file in a machine',
    description: 'Rename or move a file or directory inside a machine, running or stopped (one atomic rename; the destination is replaced if it is a file).',
    input: z.object({ ...machineRef, source: path, dest: path }),
    output: z.object({ source: z.string(), dest: z.string() }),
    annotations: changes,
    async run({ app, id, source, dest }, { backend }) {
      const r = await backend.run(fsRename, { app, id }, { source, dest })
      return { structured: r, text: `renamed ${r.source} to ${r.dest}` }
    },
  }),
]

/** The first `max` bytes of a stream, which is then closed (its reader in the machine stops). */
async function head(stream: Readable, max: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let got = 0
  for await (const chunk of stream) {
    const c = chunk as Buffer
    parts.push(got + c.length > max ? c.subarray(0, max - got) : c)
    got = Math.min(max, got + c.length)
    if (got >= max) break
  }
  stream.destroy()
  return Buffer.concat(parts)
}
