/**
 * A machine's secrets for one run (types.ts StartSecrets), kept off every disk. runc reads the
 * process env from the bundle's config.json, at create and again at every `runc exec`, so the
 * bundle that holds the secrets lives in a small tmpfs of the machine's own, `roots/<id>/secrets`:
 * a copy of the machine's config.json (which, on the data dir, holds none) with the secrets in its
 * env, and the config.files it bind-mounts read-only. conmon gets that directory as the bundle;
 * the tmpfs is unmounted as soon as no process runs (stop, exit, destroy).
 *
 *   const bundle = await mountSecrets(paths, base, secrets)   // the bundle dir for conmon
 *   await clearSecrets(paths)                                 // once the process is gone
 */
import { statSync } from 'node:fs'
import { chmod, chown, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError } from '../../errors.ts'
import { run, tryRun } from '../../lib/proc.ts'
import type { StartSecrets } from '../types.ts'
import type { MachinePaths } from './layout.ts'

/** Room for the bundle and the files: an app's secrets are at most 1 MiB (platform/secrets.ts), files a few more. */
const tmpfsSize = '16m'

const nameOf = (kv: string): string => kv.slice(0, kv.indexOf('='))

function mounted(paths: MachinePaths): boolean {
  try {
    return statSync(paths.secrets).dev !== statSync(paths.rootDir).dev
  } catch {
    return false
  }
}

/**
 * Mounts a fresh tmpfs (0711: the machine's root, which runc mounts as, must reach the files; only
 * host root reads config.json), writes the bundle and files, and returns the bundle directory.
 * `base` is the host uid of the machine's root, who owns the files.
 */
export async function mountSecrets(paths: MachinePaths, base: number, secrets: StartSecrets): Promise<string> {
  await clearSecrets(paths)
  await mkdir(paths.secrets, { mode: 0o711 })
  await run('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsSize},mode=0711,nosuid,nodev,noexec`, 'hangar-secrets', paths.secrets], { step: 'mount the secrets tmpfs' })
  try {
    const config = JSON.parse(await readFile(paths.config, 'utf8')) as { process: { env: string[] }; mounts: unknown[] }
    // Secrets win over the image's and the config's env of the same name.
    const names = new Set(secrets.env.map(nameOf))
    config.process.env = [...config.process.env.filter((kv) => !names.has(nameOf(kv))), ...secrets.env]
    if (secrets.files.length) await mkdir(join(paths.secrets, 'files'), { mode: 0o711 })
    for (const [n, f] of secrets.files.entries()) {
      const file = join(paths.secrets, 'files', String(n))
      await writeFile(file, f.content, { mode: 0o600 })
      await chown(file, base, base)
      await chmod(file, f.mode)
      // After the volumes: a file may sit in a mounted volume's directory.
      config.mounts.push({ destination: f.path, type: 'bind', source: file, options: ['bind', 'rprivate', 'ro', 'nosuid', 'nodev', 'noexec'] })
    }
    await writeFile(join(paths.secrets, 'config.json'), JSON.stringify(config), { mode: 0o600 })
  } catch (e) {
    await clearSecrets(paths)
    throw e
  }
  return paths.secrets
}

/**
 * Unmounts the tmpfs (lazily if something still holds it) and removes its mount point; a stat when
 * there is none. Stop and the exit feed may both clear at once: only a tmpfs still there is an error.
 */
export async function clearSecrets(paths: MachinePaths): Promise<void> {
  // A loop because mounts can stack (a start raced another); bounded so it cannot spin.
  for (let i = 0; i < 5 && mounted(paths); i++) {
    if (!(await tryRun('umount', [paths.secrets], { step: 'umount the secrets tmpfs' })) && mounted(paths)) {
      await tryRun('umount', ['-l', paths.secrets], { step: 'umount the secrets tmpfs' })
    }
  }
  if (mounted(paths)) throw new HangarError('runtime_error', `the secrets tmpfs at ${paths.secrets} could not be unmounted`)
  await rmdir(paths.secrets).catch(() => {})
}
