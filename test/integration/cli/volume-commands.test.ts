/** `hangar volume …` against a real daemon: create, list, show, extend, snapshot, fork, destroy; refusals name their code. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startDaemon } from '../../support/daemon.ts'
import { hangar } from '../../support/cli.ts'


test('hangar volume creates, lists, grows, snapshots, forks and destroys volumes', async (t) => {
  const d = await startDaemon(t)
  await d.client.apps.create('volcli')
  const ok = async (...args: string[]): Promise<string> => {
    const r = await hangar(d.env, 'volume', ...args)
    assert.equal(r.code, 0, `hangar volume ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }
  const v = JSON.parse(await ok('create', 'data', '--app', 'volcli', '--size', '1', '--json')) as { id: string; size_gb: number }
  assert.equal(v.size_gb, 1)
  assert.match(await ok('list', '--app', 'volcli'), new RegExp(`${v.id}\\s+data\\s+1 GB`))
  assert.match(await ok('extend', v.id, '--app', 'volcli', '--size', '2'), /is now 2 GB/)
  const shrink = await hangar(d.env, 'volume', 'extend', v.id, '--app', 'volcli', '--size', '1')
  assert.equal(shrink.code, 2)
  assert.match(shrink.stderr, /not shrink/)
  const s = JSON.parse(await ok('snapshot', v.id, '--app', 'volcli', '--json')) as { id: string }
  assert.match(await ok('snapshots', v.id, '--app', 'volcli'), new RegExp(s.id))
  const fromSnap = JSON.parse(await ok('create', 'copy', '--app', 'volcli', '--snapshot', s.id, '--json')) as { id: string; size_gb: number }
  assert.equal(fromSnap.size_gb, 2)
  const fork = JSON.parse(await ok('fork', v.id, '--app', 'volcli', '--json')) as { id: string; name: string }
  assert.equal(fork.name, 'data')
  assert.equal(JSON.parse(await ok('show', fork.id, '--app', 'volcli', '--json')).id, fork.id)
  for (const id of [v.id, fromSnap.id, fork.id]) assert.match(await ok('destroy', id, '--app', 'volcli'), /destroyed/)
  const gone = await hangar(d.env, 'volume', 'show', v.id, '--app', 'volcli')
  assert.equal(gone.code, 1)
  assert.match(gone.stderr, /volume not found/)
})
