/** <data-dir>/secrets-key: made once (0600), kept, and a database whose secrets it cannot open stops the daemon's start. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureSecretsKey } from '../../../src/daemon/main.ts'
import { SecretBox } from '../../../src/platform/index.ts'
import { openStore } from '../../../src/store/index.ts'
import { isHangarError } from '../../../src/errors.ts'
import { useTmpDir } from '../../support/images.ts'

test('the secrets key is made once, 0600, outside the database; a missing or wrong key with sealed secrets refuses the start', async (t) => {
  const dir = await useTmpDir(t, 'hangar-secrets-key-')
  const store = openStore({ path: join(dir, 'hangar.db') })
  t.after(() => store.close())
  const file = join(dir, 'secrets-key')

  const key = await ensureSecretsKey(dir, store)
  assert.equal(statSync(file).mode & 0o777, 0o600)
  assert.equal(readFileSync(file, 'utf8').trim(), key.toString('hex'))
  assert.deepEqual(await ensureSecretsKey(dir, store), key, 'kept across starts')

  // A secret sealed with it, as the platform writes one.
  store.apps.insert({ id: 'a', name: 'web', org_slug: 'personal', network: 'default', created_at: 'now' })
  const slot = { app: 'web', name: 'A', version: store.tx(() => store.secrets.nextVersion('web')) }
  store.secrets.insert({ app_name: 'web', ...slot, value: new SecretBox(key).seal(slot, 'v'), digest: 'd', created_at: 'now', updated_at: 'now' })
  assert.deepEqual(await ensureSecretsKey(dir, store), key)

  rmSync(file)
  await assert.rejects(ensureSecretsKey(dir, store), (e) => isHangarError(e) && e.code === 'unavailable' && /secrets-key is missing/.test(e.message) && /restore/.test(e.hint))
  assert.throws(() => statSync(file), 'no new key was made that could never open them')

  writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600 })
  await assert.rejects(ensureSecretsKey(dir, store), (e) => isHangarError(e) && e.code === 'secrets_unreadable' && /DELETE FROM app_secrets/.test(e.hint))

  writeFileSync(file, key.toString('hex') + '\n', { mode: 0o644 })
  assert.deepEqual(await ensureSecretsKey(dir, store), key)
  assert.equal(statSync(file).mode & 0o777, 0o600, 'put back to 0600')
})
