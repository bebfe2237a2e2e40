/**
 * The secrets service over a real SQLite store, in process (no runtime: these rules never reach
 * it): versions, what a machine bound to a version gets, pruning, limits, and that nothing it
 * answers or throws, nor the database file, holds a value.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { openStore, type MachineRow, type Store } from '../../../src/store/index.ts'
import { createCtx, type Ctx } from '../../../src/platform/context.ts'
import { bindSecrets, secretsService, startSecrets, valuesAt } from '../../../src/platform/secrets.ts'
import { isHangarError } from '../../../src/errors.ts'
import { useTmpDir } from '../../support/images.ts'

const value = (tag: string): string => `${tag}-${randomBytes(12).toString('hex')}`

async function setup(t: TestContext): Promise<{ ctx: Ctx; store: Store; svc: ReturnType<typeof secretsService>; db: string }> {
  const dir = await useTmpDir(t, 'hangar-secrets-')
  const db = join(dir, 'hangar.db')
  const store = openStore({ path: db })
  t.after(() => store.close())
  store.apps.insert({ id: 'a1', name: 'web', org_slug: 'personal', network: 'default', created_at: 'now' })
  store.apps.insert({ id: 'a2', name: 'api', org_slug: 'personal', network: 'default', created_at: 'now' })
  // What these rules touch is the store, the key and the disk check: the runtime and images are never reached.
  const ctx = createCtx({
    store, driver: null as never, images: null as never, logger: pino({ level: 'silent' }), region: 'local', tokenKey: randomBytes(32), secretsKey: randomBytes(32),
    capacity: { hostMemoryMb: 1024, memoryShare: 1, hostCpus: 1, cpuOvercommit: 1 }, disk: { dir, minFreeBytes: 0 },
  })
  return { ctx, store, svc: secretsService(ctx), db }
}

function machine(store: Store, id: string, app: string, secretsVersion: number | null, config: Record<string, unknown> = { image: 'x' }): MachineRow {
  const row: MachineRow = {
    id, app_name: app, name: id, state: 'started', region: 'local', instance_id: 'v', config, image_ref: {}, private_ip: null, private_ip6: null,
    restart_count: 0, secrets_version: secretsVersion, created_at: 'now', updated_at: 'now',
  }
  store.machines.insert(row)
  return row
}

test('each change is one version; lists carry names and digests only; a machine bound to a version keeps its values', async (t) => {
  const { ctx, store, svc } = await setup(t)
  const [a1, b1, a2] = [value('a1'), value('b1'), value('a2')]
  assert.equal(svc.list('web').version, 0)
  const first = svc.update('web', { values: { A: a1, B: b1 } })
  assert.equal(first.version, 1)
  assert.deepEqual(first.secrets.map((s) => Object.keys(s).sort()), [['created_at', 'digest', 'name', 'updated_at'], ['created_at', 'digest', 'name', 'updated_at']])
  const m1 = machine(store, 'm1', 'web', bindSecrets(ctx, 'web', { config: { image: 'x' } }))
  assert.equal(m1.secrets_version, 1)

  const second = svc.set('web', 'A', { value: a2 })
  assert.equal(second.version, 2)
  assert.notEqual(second.digest, first.secrets.find((s) => s.name === 'A')?.digest, 'a new value, a new digest')
  assert.equal(second.created_at, first.secrets.find((s) => s.name === 'A')?.created_at, 'created_at is the name\'s first set')
  assert.equal(svc.unset('web', 'B').version, 3)
  assert.deepEqual(svc.list('web').secrets.map((s) => s.name), ['A'])

  // m1 was bound at 1: it still gets A=a1 and B, though both changed since.
  assert.deepEqual([...valuesAt(ctx, 'web', 1)], [['A', a1], ['B', b1]])
  assert.deepEqual(startSecrets(ctx, m1)?.env, [`A=${a1}`, `B=${b1}`])
  // A machine bound now gets A=a2 only; one created with skip_secrets gets nothing.
  assert.deepEqual(startSecrets(ctx, machine(store, 'm2', 'web', bindSecrets(ctx, 'web', { config: { image: 'x' } }))!)?.env, [`A=${a2}`])
  assert.equal(startSecrets(ctx, machine(store, 'm3', 'web', bindSecrets(ctx, 'web', { config: { image: 'x' }, skip_secrets: true }))), undefined)
  // Another app's secrets are its own.
  assert.deepEqual(svc.list('api').secrets, [])
})

test('unsetting names that are not set makes no version; setting the same value again does', async (t) => {
  const { svc } = await setup(t)
  svc.update('web', { values: { A: 'x' } })
  assert.equal(svc.update('web', { values: { NOPE: null } }).version, 1)
  assert.equal(svc.update('web', { values: { A: 'x' } }).version, 2)
})

test('rows no live machine can need are pruned; those a machine is bound to stay until it is gone', async (t) => {
  const { ctx, store, svc } = await setup(t)
  svc.update('web', { values: { A: 'one' } })
  svc.update('web', { values: { A: 'two' } })
  assert.equal(store.secrets.count(), 1, 'with no machine, only the current row is kept')
  const bound = machine(store, 'm1', 'web', bindSecrets(ctx, 'web', { config: { image: 'x' } }))
  svc.update('web', { values: { A: 'three' } })
  svc.update('web', { values: { A: null } })
  assert.equal(store.secrets.count(), 3, 'two (m1\'s), three (superseded after m1\'s version) and the unset stay')
  assert.deepEqual([...valuesAt(ctx, 'web', bound.secrets_version!)], [['A', 'two']])
  store.machines.update('m1', { state: 'destroyed' })
  svc.update('web', { values: { OTHER: 'x' } })
  assert.equal(store.secrets.count(), 1, 'm1 gone: only OTHER is left, A and its unset pruned')
  store.machines.update('m1', { state: 'destroyed' })
  store.apps.delete('web', new Date().toISOString())
  assert.equal(store.secrets.count(), 0, 'an app\'s secrets go with it')
})

test('bad input: names, NUL, size, empty values, show_secrets, min_version; no error holds a value', async (t) => {
  const { svc } = await setup(t)
  const secret = value('never-echoed')
  const refused = (fn: () => unknown, code: string): void => {
    assert.throws(fn, (e) => {
      assert.ok(isHangarError(e), String(e))
      assert.equal(e.code, code, e.message)
      assert.ok(!JSON.stringify(e.toJSON()).includes(secret), `${code} echoes the value`)
      return true
    })
  }
  refused(() => svc.update('web', { values: { '1BAD': secret } }), 'invalid_argument')
  refused(() => svc.update('web', { values: { 'BAD-NAME': secret } }), 'invalid_argument')
  refused(() => svc.update('web', { values: { A: `${secret}\0` } }), 'invalid_argument')
  refused(() => svc.update('web', { values: { A: secret + 'x'.repeat(64 * 1024) } }), 'invalid_argument')
  refused(() => svc.update('web', { values: { A: 42 } }), 'invalid_argument')
  refused(() => svc.update('web', { values: {} }), 'invalid_argument')
  refused(() => svc.update('web', { value: secret }), 'invalid_argument')
  refused(() => svc.set('web', 'bad name', { value: secret }), 'invalid_argument')
  refused(() => svc.update('nope', { values: { A: secret } }), 'app_not_found')
  refused(() => svc.list('web', { show_secrets: true }), 'secrets_write_only')
  refused(() => svc.list('web', { min_version: '5' }), 'out_of_range')
  refused(() => svc.list('web', { min_version: 'x' }), 'invalid_argument')
  refused(() => svc.get('web', 'A'), 'secret_not_found')
  refused(() => svc.unset('web', 'A'), 'secret_not_found')
  // The app's whole set is bounded too: 17 values of 64 KiB pass 1 MiB.
  const big = 'v'.repeat(64 * 1024 - 100)
  refused(() => svc.update('web', { values: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`K${i}`, big])) }), 'out_of_range')
  assert.equal(svc.list('web').version, 0, 'nothing refused made a version')
})

test('min_secrets_version ahead of the app and a file naming a missing or non-base64 secret are refused at binding', async (t) => {
  const { ctx, svc } = await setup(t)
  svc.update('web', { values: { PLAIN: 'not base64!', FILE: Buffer.from('hello\n').toString('base64') } })
  const bind = (req: Parameters<typeof bindSecrets>[2]): unknown => bindSecrets(ctx, 'web', req)
  assert.throws(() => bind({ config: { image: 'x' }, min_secrets_version: 2 }), (e) => isHangarError(e) && e.code === 'out_of_range')
  assert.equal(bind({ config: { image: 'x' }, min_secrets_version: 1 }), 1)
  assert.throws(() => bind({ config: { image: 'x', files: [{ guest_path: '/a', secret_name: 'MISSING' }] } }), (e) => isHangarError(e) && e.code === 'invalid_argument' && /no secret MISSING/.test(e.message))
  assert.throws(() => bind({ config: { image: 'x', files: [{ guest_path: '/a', secret_name: 'PLAIN' }] } }), (e) => isHangarError(e) && /not base64/.test(e.message) && !e.message.includes('not base64!'))
  assert.throws(() => bind({ config: { image: 'x', files: [{ guest_path: '/a', secret_name: 'FILE' }] }, skip_secrets: true }), (e) => isHangarError(e) && e.code === 'invalid_argument')
  const files = [{ guest_path: '/etc/app/cred', secret_name: 'FILE', mode: 0o600 }, { guest_path: '/etc/app/plain', raw_value: Buffer.from('raw').toString('base64') }]
  const m = machine(ctx.store, 'm1', 'web', bind({ config: { image: 'x', files } }) as number, { image: 'x', files })
  const given = startSecrets(ctx, m)!
  assert.deepEqual(given.files.map((f) => [f.path, f.mode, f.content.toString()]), [['/etc/app/cred', 0o600, 'hello\n'], ['/etc/app/plain', 0o644, 'raw']])
})

test('the database file and its WAL hold sealed bytes only', async (t) => {
  const { svc, store, db } = await setup(t)
  const values = [value('wal-one'), value('wal-two'), value('wal-three')]
  svc.update('web', { values: { A: values[0] as string, B: values[1] as string } })
  svc.set('web', 'A', { value: values[2] as string })
  svc.unset('web', 'B')
  for (const file of [db, `${db}-wal`, `${db}-shm`].filter(existsSync)) {
    const bytes = readFileSync(file)
    for (const v of values) assert.equal(bytes.includes(Buffer.from(v)), false, `${file} holds a value in the clear`)
  }
  assert.ok(existsSync(`${db}-wal`), 'the WAL was there to look at')
  assert.equal(store.secrets.count() > 0, true)
})
