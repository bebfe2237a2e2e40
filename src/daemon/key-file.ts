/**
 * The daemon's keys: 32 random bytes, hex, one per file in the data dir, mode 0600, made at first
 * start. They live outside the state database, so a copy of hangar.db (a backup, a bug report)
 * holds none of them.
 *
 *   const key = await ensureKeyFile(dataDir, 'token-key', 'every scoped token then stops working')
 */
import { chmod, readFile, rename, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { HangarError } from '../errors.ts'

/** `lost`: what deleting the file costs, for the hint when it is unreadable. */
export async function ensureKeyFile(dataDir: string, name: string, lost: string): Promise<Buffer> {
  const file = join(dataDir, name)
  if (existsSync(file)) {
    const text = (await readFile(file, 'utf8')).trim()
    if (!/^[0-9a-f]{64}$/.test(text)) {
      throw new HangarError('invalid_argument', `${file} is not 64 hex digits`, { hint: `restore it from a backup, or delete it to make a new one (${lost})` })
    }
    await chmod(file, 0o600)
    return Buffer.from(text, 'hex')
  }
  const key = randomBytes(32)
  await writeFile(`${file}.tmp`, key.toString('hex') + '\n', { mode: 0o600 })
  await rename(`${file}.tmp`, file)
  return key
}
