/**
 * What native/hangar-fs.c says, read back: its status line (`{"ok":true,…}` or
 * `{"errno":"ENOENT","path":…}`), its listing lines, and POSIX errors as HangarErrors.
 * The helper writes every byte of a name outside printable ASCII as \u00XX, so a name
 * that is not UTF-8 survives exactly; `fromHelperString` turns it back into text.
 *
 *   const status = parseStatus('{"errno":"ENOENT","op":"read","step":"open","path":"/x","message":"…"}')
 *   throw fileError(status)   // HangarError file_not_found, details.errno ENOENT
 */
import { HangarError, type Code } from '../../errors.ts'
import type { FileEntry } from '../types.ts'

export type HelperStatus =
  | { ok: true; size?: number; mode?: number; isDir?: boolean; truncated?: boolean }
  | { ok: false; errno: string; op: string; step: string; path: string; message: string }

/** The helper's strings carry one byte per code unit; the bytes are UTF-8 (or not: then U+FFFD marks the bad ones). */
export function fromHelperString(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8')
}

export function parseStatus(line: string): HelperStatus {
  let o: Record<string, unknown>
  try {
    o = JSON.parse(line) as Record<string, unknown>
  } catch {
    throw new HangarError('runtime_error', `the files helper said something unreadable: ${line.slice(0, 200)}`)
  }
  if (o.ok === true) return o as HelperStatus
  if (typeof o.errno !== 'string') throw new HangarError('runtime_error', `the files helper said something unreadable: ${line.slice(0, 200)}`)
  return { ok: false, errno: o.errno, op: String(o.op ?? ''), step: String(o.step ?? ''), path: fromHelperString(String(o.path ?? '')), message: String(o.message ?? o.errno) }
}

const byErrno: Record<string, Code> = {
  ENOENT: 'file_not_found',
  EISDIR: 'is_a_directory',
  ENOTDIR: 'not_a_directory',
  ENOTEMPTY: 'directory_not_empty',
  EEXIST: 'file_exists',
  EACCES: 'file_permission_denied',
  EPERM: 'file_permission_denied',
  EROFS: 'file_permission_denied',
  ENOSPC: 'machine_disk_full',
  EDQUOT: 'machine_disk_full',
}

/** A POSIX error from a file operation as the HangarError a caller can act on. */
export function fileError(s: { errno: string; op: string; step: string; path: string; message: string }): HangarError {
  const code = byErrno[s.errno] ?? 'file_error'
  const what = code === 'machine_disk_full' ? `the machine's disk is full (${s.errno}) writing ${s.path}` : `${s.op} ${s.path}: ${s.message} (${s.errno}${s.step && s.step !== s.op ? ` at ${s.step}` : ''})`
  return new HangarError(code, what, { details: { errno: s.errno, path: s.path } })
}

/** busybox tar reports on stderr in words, not errno names: the disk-full case must still read as one. */
export function tarError(stderr: string, dir: string, exitCode: number): HangarError {
  const text = stderr.trim().split('\n').slice(-3).join('; ') || `exit code ${exitCode}`
  if (/No space left on device|Disk quota exceeded/i.test(stderr)) return fileError({ errno: /quota/i.test(stderr) ? 'EDQUOT' : 'ENOSPC', op: 'tar', step: 'tar', path: dir, message: text })
  return new HangarError('file_error', `tar in ${dir} failed: ${text}`, { details: { errno: 'EIO', path: dir } })
}

const types = new Set(['file', 'directory', 'symlink', 'other'])

/** One listing line: `{"name","path","type","size","mode","uid","gid","mtime"[,"target"]}`, mtime in seconds with nanoseconds. */
export function parseEntry(line: string): FileEntry {
  const o = JSON.parse(line) as { name: string; path: string; type: string; size: number; mode: number; uid: number; gid: number; mtime: number; target?: string }
  if (!types.has(o.type)) throw new HangarError('runtime_error', `the files helper listed an entry of unknown type: ${line.slice(0, 200)}`)
  return {
    name: fromHelperString(o.name),
    path: fromHelperString(o.path),
    type: o.type as FileEntry['type'],
    size: o.size,
    mode: o.mode,
    uid: o.uid,
    gid: o.gid,
    modTime: new Date(Math.round(o.mtime * 1000)).toISOString(),
    isDir: o.type === 'directory',
    ...(o.target !== undefined ? { target: fromHelperString(o.target) } : {}),
  }
}
