import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { daemonWithBusybox } from '../../support/machines.ts'

type Err = Error & { code?: string; status?: number }
const code = (c: string) => (e: Err) => e.code === c

test('bad requests get clear errors and create nothing', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const raw = (method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
    fetch(d.url + path, { method, headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json', ...headers }, ...(body !== undefined ? { body } : {}) })

  await t.test('no token is a 401', async () => {
    const res = await fetch(`${d.url}/v1/apps`)
    assert.equal(res.status, 401)
    assert.match((await res.json()).error, /token/)
  })

  await t.test('malformed JSON is a 400 saying so', async () => {
    const res = await raw('POST', `/v1/apps/${d.app}/machines`, '{"config": ')
    assert.equal(res.status, 400)
    const body = await res.json()
    assert.equal(body.code, 'malformed_json')
    assert.match(body.error, /^invalid_argument: request body is not valid JSON/)
  })

  await t.test('unknown app and machine are 404s', async () => {
    assert.equal((await raw('GET', '/v1/apps/nope/machines')).status, 404)
    const res = await raw('GET', `/v1/apps/${d.app}/machines/0123456789abcd`)
    assert.equal(res.status, 404)
    assert.match((await res.json()).error, /^not_found: machine not found/)
  })

  await t.test('invalid image references and missing images', async () => {
    await assert.rejects(hm.create(d.app, { config: { image: 'UPPER CASE!!' } }), code('invalid_image_ref'))
    await assert.rejects(hm.create(d.app, { config: { image: 'not-imported:1.0' } }), code('image_not_found'))
  })

  await t.test('sizes out of range name the field', async () => {
    const res = await raw('POST', `/v1/apps/${d.app}/machines`, JSON.stringify({ config: { image: d.image, guest: { cpus: 0, memory_mb: 10 } } }))
    assert.equal(res.status, 400)
    const body = await res.json()
    assert.match(body.error, /guest\.cpus/)
    assert.match(body.error, /guest\.memory_mb/)
  })

  await t.test('nothing was left behind by the failed creates', async () => {
    assert.equal((await hm.list(d.app, { includeDeleted: true })).length, 0)
    const machinesDir = join(d.dataDir, 'runtime', 'machines')
    assert.deepEqual(existsSync(machinesDir) ? readdirSync(machinesDir) : [], [])
  })

  await t.test('duplicate names are a 422 name_taken', async () => {
    await hm.create(d.app, { name: 'twin', skip_launch: true, config: { image: d.image } })
    const res = await raw('POST', `/v1/apps/${d.app}/machines`, JSON.stringify({ name: 'twin', config: { image: d.image } }))
    assert.equal(res.status, 422)
    assert.equal((await res.json()).status, 'name_taken')
    await assert.rejects(d.client.apps.create(d.app), code('name_taken'))
  })

  await t.test('illegal transitions are 409s naming the state; destroyed machines are gone', async () => {
    const m = await hm.create(d.app, { config: { image: d.image } })
    const res = await raw('DELETE', `/v1/apps/${d.app}/machines/${m.id}`)
    assert.equal(res.status, 409)
    const body = await res.json()
    assert.equal(body.details.state, 'started')
    assert.match(body.hint, /force=true/)
    await hm.destroy(d.app, m.id, { force: true })
    await assert.rejects(hm.start(d.app, m.id), code('machine_not_found'))
  })

  await t.test('a lease blocks other callers until released', async () => {
    const m = await hm.create(d.app, { skip_launch: true, config: { image: d.image } })
    const lease = await hm.acquireLease(d.app, m.id, { ttl: 60 })
    await assert.rejects(hm.start(d.app, m.id), code('lease_conflict'))
    await assert.rejects(hm.start(d.app, m.id, { nonce: 'wrongnonce00' }), code('lease_conflict'))
    await assert.rejects(hm.acquireLease(d.app, m.id), code('lease_conflict'))
    await hm.start(d.app, m.id, { nonce: lease.nonce })
    await hm.releaseLease(d.app, m.id, lease.nonce)
    await hm.stop(d.app, m.id)
  })

  await t.test('lease_ttl on create and update takes the lease for the caller and returns its nonce', async () => {
    const m = await hm.create(d.app, { skip_launch: true, lease_ttl: 60, config: { image: d.image } })
    assert.ok(m.nonce, 'create returns the nonce')
    const held = await (await raw('GET', `/v1/apps/${d.app}/machines/${m.id}/lease`)).json()
    assert.equal(held.data.owner, 'root', 'owned by the token that asked')
    await assert.rejects(hm.update(d.app, m.id, { config: { image: d.image } }), code('lease_conflict'))
    const u = await hm.update(d.app, m.id, { skip_launch: true, lease_ttl: 60, config: { image: d.image, env: { A: '1' } } }, { nonce: m.nonce! })
    assert.equal(u.nonce, m.nonce, 'the same lease, refreshed')
    await hm.releaseLease(d.app, m.id, m.nonce!)
  })

  await t.test('a stop with a signal or timeout out of range is refused and the machine keeps running', async () => {
    const m = await hm.create(d.app, { config: { image: d.image } })
    await assert.rejects(hm.stop(d.app, m.id, { signal: 34 }), code('invalid_argument'))
    await assert.rejects(hm.stop(d.app, m.id, { timeout: '1000h' }), code('invalid_argument'))
    assert.equal((await hm.get(d.app, m.id)).state, 'started')
    await hm.stop(d.app, m.id)
  })

  await t.test('concurrent starts and stops are serialised and end settled', async () => {
    const m = await hm.create(d.app, { config: { image: d.image } })
    const ops = await Promise.allSettled([hm.stop(d.app, m.id), hm.start(d.app, m.id), hm.stop(d.app, m.id), hm.start(d.app, m.id), hm.stop(d.app, m.id)])
    assert.deepEqual(ops.map((o) => o.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
    // Arrival order over five connections is not ours to choose; what must hold is
    // that no two operations interleaved and the final state is the last event's.
    const types = (await hm.events(d.app, m.id, 50)).map((e) => e.type).reverse().join(',')
    assert.match(types, /^launch,start(,stop,exit,start)*(,stop,exit)?$/)
    const state = (await hm.get(d.app, m.id)).state
    assert.equal(state, types.endsWith('exit') ? 'stopped' : 'started')
  })
})
