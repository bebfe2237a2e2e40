/**
 * Resolves ProcessSpec.user ("uid", "uid:gid", "name", "name:group") against
 * the machine's own /etc/passwd and /etc/group, like Docker does, so images
 * that say `USER nobody` work. Reads through the mounted rootfs but refuses
 * any symlink on the way (the file, or /etc itself): a hostile image or machine
 * must not make us read a host file.
 */
import { lstat, readFile, realpath } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../../errors.ts'

export interface OciUser {
  uid: number
  gid: number
  additionalGids?: number[]
}

async function readTable(rootfs: string, file: string): Promise<string[][]> {
  const path = join(rootfs, 'etc', file)
  try {
    // Not through a symlink anywhere on the way (a machine's /etc may point at the host's).
    if ((await realpath(path)) !== join(await realpath(rootfs), 'etc', file)) return []
    if (!(await lstat(path)).isFile()) return []
    const text = await readFile(path, 'utf8')
    return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'))
  } catch {
    return []
  }
}

const numeric = (s: string): boolean => /^\d+$/.test(s)

/**
 * Returns the OCI `process.user` for a spec user; default root (0:0).
 *
 *   await resolveUser('/…/rootfs', 'nobody') // { uid: 65534, gid: 65534 }
 */
export async function resolveUser(rootfs: string, user: string | undefined): Promise<OciUser> {
  if (!user) return { uid: 0, gid: 0 }
  const [name = '', group] = user.split(':', 2)
  const passwd = await readTable(rootfs, 'passwd')
  const groups = await readTable(rootfs, 'group')

  let uid: number
  let gid: number
  let userName: string | undefined
  const entry = passwd.find((p) => (numeric(name) ? p[2] === name : p[0] === name))
  if (entry) {
    uid = Number(entry[2])
    gid = Number(entry[3] ?? 0)
    userName = entry[0]
  } else if (numeric(name)) {
    // Docker's rule for an unknown numeric uid: primary group root.
    uid = Number(name)
    gid = 0
  } else {
    throw new HangarError('invalid_argument', `user "${name}" is not in the image's /etc/passwd`)
  }

  if (group !== undefined) {
    const g = groups.find((x) => (numeric(group) ? x[2] === group : x[0] === group))
    if (g) gid = Number(g[2])
    else if (numeric(group)) gid = Number(group)
    else throw new HangarError('invalid_argument', `group "${group}" is not in the image's /etc/group`)
  }

  // Supplementary groups: every group that lists the user as a member.
  const extra = userName === undefined ? [] : groups.filter((g) => (g[3] ?? '').split(',').includes(userName)).map((g) => Number(g[2]))
  const additionalGids = [...new Set(extra)].filter((g) => g !== gid)
  return additionalGids.length ? { uid, gid, additionalGids } : { uid, gid }
}
