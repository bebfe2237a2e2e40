/**
 * App secrets on real runc machines: read back from inside (the main process's env, exec's env,
 * a secret file), never trusted from a response. A machine keeps the values of the version it was
 * bound to at create or update, across stops and daemon restarts; an update gives it the new
 * ones. On the host the values live only in the machine's tmpfs while it runs.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { daemonWithBusybox, refusedWith } from '../../support/machines.ts'

const b64 = (s: string): string => Buffer.from(s).toString('base64')
const fresh = (tag: string): string => `${tag}-${randomBytes(10).toString('hex')}`

// The main process writes what it was given into the machine's /dev/shm (memory), where exec reads it.
const config = {
  image: 'busybox:latest',
  init: { exec: ['sh', '-c', 'echo "$DB_PASSWORD" > /dev/shm/seen; exec sleep 100000'] },
  env: { PLAIN: 'not-a-secret' },
  files: [{ guest_path: '/etc/app/cred.json', secret_name: 'CRED_FILE', mode: 0o600 }, { guest_path: '/etc/app/motd', raw_value: b64('hello\n') }],
}

test('secrets reach machines as env vars and files at start, bound at create and update', async (t) => {
  const d = await daemonWithBusybox(t, 'secretapp')
  // The client is a new one after a daemon restart.
  const hm = () => d.client.machines
  const hs = () => d.client.secrets
  const app = d.app
  const sh = async (id: string, cmd: string): Promise<string> => {
    const r = await hm().exec(app, id, { command: ['sh', '-c', cmd], timeout: 60 })
    assert.equal(r.exit_code, 0, `${cmd}: ${r.stderr}`)
    return r.stdout
  }
  const tag = createHash('sha256').update(join(d.dataDir, 'runtime')).digest('hex').slice(0, 12)
  const tmpfsOf = (id: string): string => join('/run/hangar', tag, 'roots', id, 'secrets')
  const mounted = (path: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path)

  const [pw1, pw2] = [fresh('pw1'), fresh('pw2')]
  const [cred1, cred2] = [`{"key":"${fresh('cred1')}"}`, `{"key":"${fresh('cred2')}"}`]
  const first = await hs().update(app, { DB_PASSWORD: pw1, CRED_FILE: b64(cred1) })
  const m = await hm().create(app, { config, min_secrets_version: first.version })

  await t.test('the main process, exec and the files see the values the machine was created with', async () => {
    assert.equal(await sh(m.id, 'cat /dev/shm/seen'), `${pw1}\n`)
    assert.equal(await sh(m.id, 'echo "$DB_PASSWORD $PLAIN"'), `${pw1} not-a-secret\n`)
    assert.equal(await sh(m.id, 'cat /etc/app/cred.json'), cred1)
    assert.equal(await sh(m.id, 'stat -c "%a %u" /etc/app/cred.json; cat /etc/app/motd'), '600 0\nhello\n')
    const write = await hm().exec(app, m.id, { command: ['sh', '-c', 'echo x > /etc/app/cred.json'] })
    assert.notEqual(write.exit_code, 0, 'a secret file is read-only, even for root inside')
  })

  await t.test('on the host the values are in the machine\'s tmpfs only: not in its bundle on the data dir', () => {
    assert.ok(mounted(tmpfsOf(m.id)), 'a tmpfs of the machine\'s own while it runs')
    const bundle = readFileSync(join(d.dataDir, 'runtime', 'machines', m.id, 'config.json'), 'utf8')
    const spec = readFileSync(join(d.dataDir, 'runtime', 'machines', m.id, 'spec.json'), 'utf8')
    for (const v of [pw1, cred1, b64(cred1)]) assert.ok(!bundle.includes(v) && !spec.includes(v))
    assert.match(bundle, /PLAIN=not-a-secret/, 'the ordinary env is there as before')
  })

  const second = await hs().update(app, { DB_PASSWORD: pw2, CRED_FILE: b64(cred2) })
  assert.equal(second.version, first.version + 1)

  await t.test('a secrets change does not reach a running or restarted machine: it keeps the version it was bound to', async () => {
    assert.equal(await sh(m.id, 'echo "$DB_PASSWORD"'), `${pw1}\n`)
    await hm().stop(app, m.id)
    assert.ok(!mounted(tmpfsOf(m.id)) && !existsSync(tmpfsOf(m.id)), 'stopped: the tmpfs is gone')
    await hm().start(app, m.id)
    await hm().wait(app, m.id, { state: ['started'] })
    assert.equal(await sh(m.id, 'cat /dev/shm/seen; cat /etc/app/cred.json'), `${pw1}\n${cred1}`)
  })

  await t.test('a daemon restart changes nothing: the key comes from its file, exec still sees the env', async () => {
    await d.shutdown()
    await d.restart()
    assert.equal(await sh(m.id, 'echo "$DB_PASSWORD"'), `${pw1}\n`)
    await hm().restart(app, m.id)
    await hm().wait(app, m.id, { state: ['started'] })
    assert.equal(await sh(m.id, 'cat /dev/shm/seen'), `${pw1}\n`)
  })

  await t.test('an update gives the machine the app\'s secrets as they are now', async () => {
    await hm().update(app, m.id, { config, min_secrets_version: second.version })
    await hm().wait(app, m.id, { state: ['started'] })
    assert.equal(await sh(m.id, 'cat /dev/shm/seen; echo "$DB_PASSWORD"; cat /etc/app/cred.json'), `${pw2}\n${pw2}\n${cred2}`)
  })

  await t.test('bad input is refused before anything changes', async () => {
    const before = (await hm().list(app)).map((x) => x.id)
    const ahead = await refusedWith(hm().create(app, { config, min_secrets_version: second.version + 1 }), 'out_of_range')
    assert.match(ahead.message, new RegExp(`at version ${second.version}`))
    await refusedWith(hm().create(app, { config: { ...config, files: [{ guest_path: '/x', secret_name: 'NOPE' }] } }), 'invalid_argument')
    await refusedWith(hm().create(app, { config, skip_secrets: true }), 'invalid_argument')
    await refusedWith(hm().create(app, { config: { ...config, files: [{ guest_path: '/x', image_config: 'y' }] } }), 'invalid_argument')
    assert.deepEqual((await hm().list(app)).map((x) => x.id), before)
    // An update naming a secret that is gone is refused while the machine runs on.
    await hs().unset(app, 'CRED_FILE')
    await refusedWith(hm().update(app, m.id, { config }), 'invalid_argument')
    assert.equal((await hm().get(app, m.id)).state, 'started')
    assert.equal(await sh(m.id, 'cat /etc/app/cred.json'), cred2, 'its own version still holds the unset secret')
  })

  await t.test('skip_secrets: a machine without the app\'s secrets', async () => {
    const bare = await hm().create(app, { config: { image: 'busybox:latest', init: { exec: ['sleep', '100000'] } }, skip_secrets: true })
    assert.equal(await sh(bare.id, 'echo "[$DB_PASSWORD]"'), '[]\n')
    assert.ok(!existsSync(tmpfsOf(bare.id)), 'no secrets, no tmpfs: the bundle on the data dir is used')
    await hm().destroy(app, bare.id, { force: true })
  })

  await t.test('destroy takes the tmpfs away', async () => {
    await hm().destroy(app, m.id, { force: true })
    assert.ok(!mounted(tmpfsOf(m.id)) && !existsSync(join('/run/hangar', tag, 'roots', m.id)))
  })
})
