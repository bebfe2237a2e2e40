/**
 * Builds the native helpers (native/hangar-ns.c, native/hangar-fs.c) with the host's C compiler, once per source version:
 * the binary is named by the source's hash under /run/hangar/bin, so an upgrade
 * rebuilds it and two daemons on one host share it. /run is cleared at boot,
 * when it is built again (about 0.1 s).
 *
 *   const helper = await buildNsHelper()   // '/run/hangar/bin/hangar-ns-3f2a…'
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm } from 'node:fs/promises'
import { HangarError } from '../../errors.ts'
import { run } from '../../lib/proc.ts'

export type Helper = 'hangar-ns' | 'hangar-fs'

export function buildNsHelper(binDir = '/run/hangar/bin'): Promise<string> {
  return buildHelper('hangar-ns', binDir)
}

export async function buildHelper(name: Helper, binDir = '/run/hangar/bin'): Promise<string> {
  const source = new URL(`./native/${name}.c`, import.meta.url).pathname
  const hash = createHash('sha256').update(await readFile(source)).digest('hex').slice(0, 16)
  const bin = `${binDir}/${name}-${hash}`
  if (existsSync(bin)) return bin
  await mkdir(binDir, { recursive: true, mode: 0o700 })
  const tmp = `${bin}.${process.pid}.tmp`
  try {
    await run('cc', ['-O2', '-Wall', '-o', tmp, source], { step: `build ${name}` })
  } catch (e) {
    await rm(tmp, { force: true })
    throw new HangarError('unavailable', `cannot build the native helper ${name}: ${(e as Error).message}`, {
      hint: 'install a C compiler and the kernel headers (apt-get install gcc libc6-dev); ./hangar up does this itself',
      cause: e,
    })
  }
  // Atomic: another daemon building the same version at once ends with the same file.
  await rename(tmp, bin)
  return bin
}
