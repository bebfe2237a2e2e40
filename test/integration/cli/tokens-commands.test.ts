import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startDaemon } from '../../support/daemon.ts'
import { hangar } from '../../support/cli.ts'


test('hangar tokens: create, attenuate and inspect offline, use, list and revoke', async (t) => {
  const d = await startDaemon(t)
  await d.client.apps.create('web')
  await d.client.apps.create('db')

  const created = await hangar(d.env, 'tokens', 'create', '--app', 'web', '--action', 'read,tokens', '--expires-in', '1h', '--description', 'robot', '--json')
  assert.equal(created.code, 0, created.stderr)
  const { id, token } = JSON.parse(created.stdout) as { id: string; token: string }

  // Offline: no daemon is needed to narrow or read a token.
  const offline = { PATH: process.env.PATH, HANGAR_API_URL: 'http://127.0.0.1:9', HANGAR_TOKEN: token }
  const narrowed = await hangar(offline, 'tokens', 'attenuate', '--action', 'read', '--expires-in', '600')
  assert.equal(narrowed.code, 0, narrowed.stderr)
  const narrower = narrowed.stdout.trim()
  const inspected = await hangar(offline, 'tokens', 'inspect', narrower, '--json')
  const info = JSON.parse(inspected.stdout) as { id: string; caveats: { type: string }[] }
  assert.equal(info.id, id)
  assert.deepEqual(info.caveats.map((c) => c.type), ['apps', 'actions', 'validity', 'actions', 'validity'])

  const asRobot = { ...d.env, HANGAR_TOKEN: narrower }
  assert.deepEqual(JSON.parse((await hangar(asRobot, 'apps', 'list', '--json')).stdout).map((a: { name: string }) => a.name), ['web'])
  const refused = await hangar(asRobot, 'apps', 'destroy', 'web')
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /actions caveat/)
  // The narrowed token lost `tokens`: it cannot mint.
  assert.match((await hangar(asRobot, 'tokens', 'create')).stderr, /caveat_denied|permission denied/)

  const listed = await hangar(d.env, 'tokens', 'list')
  assert.match(listed.stdout, new RegExp(`${id}\\s+robot\\s+apps web; actions read,tokens; until`))
  assert.doesNotMatch(listed.stdout, /hm1_/)

  const revoked = await hangar(d.env, 'tokens', 'revoke', id)
  assert.equal(revoked.code, 0, revoked.stderr)
  const after = await hangar(asRobot, 'apps', 'list')
  assert.equal(after.code, 1)
  assert.match(after.stderr, /revoked/)

  const root = await hangar(d.env, 'tokens', 'attenuate', '--app', 'web')
  assert.equal(root.code, 2)
  assert.match(root.stderr, /not a macaroon/)
})
