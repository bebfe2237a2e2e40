import { test } from 'node:test'
import assert from 'node:assert/strict'
import { daemonWithBusybox } from '../../support/machines.ts'

test('metadata: set, read, filter, delete; stale versions and bad values are refused', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const a = await hm.create(d.app, { skip_launch: true, config: { image: d.image, metadata: { role: 'web' } } })
  const b = await hm.create(d.app, { skip_launch: true, config: { image: d.image } })
  const req = (method: string, path: string, body?: unknown) =>
    fetch(`${d.url}/v1/apps/${d.app}/machines/${path}`, { method, headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) })

  assert.equal((await req('PATCH', `${b.id}/metadata`, { metadata: { role: 'worker', tier: 'gold' } })).status, 204)
  assert.deepEqual(await hm.metadata(d.app, b.id), { role: 'worker', tier: 'gold' })
  assert.deepEqual((await hm.list(d.app, { metadata: { role: 'worker' } })).map((m) => m.id), [b.id])

  assert.equal((await req('POST', `${a.id}/metadata/zone`, { value: 'z1' })).status, 204)
  assert.deepEqual(await (await req('GET', `${a.id}/metadata/zone`)).json(), { value: 'z1' })
  assert.equal((await req('DELETE', `${a.id}/metadata/zone`)).status, 204)
  assert.equal((await req('GET', `${a.id}/metadata/zone`)).status, 404)

  assert.equal((await req('PATCH', `${b.id}/metadata`, { metadata: { tier: null } })).status, 204)
  assert.deepEqual(await hm.metadata(d.app, b.id), { role: 'worker' })

  const stale = await req('PATCH', `${b.id}/metadata`, { metadata: { x: 'y' }, machine_version: 'not-the-version' })
  assert.equal(stale.status, 412)
  assert.equal((await stale.json()).code, 'version_mismatch')
  const bad = await req('PATCH', `${b.id}/metadata`, { metadata: { x: 42 } })
  assert.equal(bad.status, 400)
  assert.match((await bad.json()).error, /metadata\.x/)
})
