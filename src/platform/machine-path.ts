/**
 * Paths the files API takes, made absolute and normal before they reach the runtime: a relative
 * path resolves against `workingDir` (Sprites' parameter; default `/`), `.` and `..` are folded
 * (`..` stops at `/`, as it does inside the machine). This is tidiness, not the wall: symlinks
 * are resolved, inside the machine, by the runtime's helper (runtime/runc/native/hangar-fs.c).
 *
 *   machinePath('src/../app.py', '/srv')   // '/srv/app.py'
 *   machinePath('/../../etc/passwd')        // '/etc/passwd'
 */
import { posix } from 'node:path'
import { HangarError } from '../errors.ts'

/** PATH_MAX on Linux, with room for the terminating NUL. */
const maxPath = 4095

function checked(p: unknown, what: string): string {
  if (typeof p !== 'string' || p === '') throw new HangarError('invalid_argument', `${what} is required`, { hint: 'pass a path inside the machine, e.g. /etc/hostname' })
  if (p.includes('\0')) throw new HangarError('invalid_argument', `${what} contains a NUL byte`)
  if (Buffer.byteLength(p) > maxPath) throw new HangarError('invalid_argument', `${what} is longer than ${maxPath} bytes`)
  return p
}

export function machinePath(path: unknown, workingDir?: unknown, what = 'path'): string {
  const p = checked(path, what)
  let base = '/'
  if (workingDir !== undefined && workingDir !== '') {
    base = checked(workingDir, 'workingDir')
    if (!base.startsWith('/')) throw new HangarError('invalid_argument', `workingDir must be absolute, got "${base}"`)
  }
  const joined = p.startsWith('/') ? p : posix.join(base, p)
  // normalize keeps a leading "/.." as "/": resolve it away, then drop any trailing slash.
  const normal = posix.resolve('/', posix.normalize(joined))
  if (Buffer.byteLength(normal) > maxPath) throw new HangarError('invalid_argument', `${what} is longer than ${maxPath} bytes`)
  return normal
}

/** True when the caller wrote a directory (a trailing slash): fs/write then makes one. */
export function namesDirectory(path: unknown): boolean {
  return typeof path === 'string' && path.length > 1 && path.endsWith('/')
}
