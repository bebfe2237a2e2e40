/**
 * Checkpoints, restore and fork through the REST API with the SDK, on real
 * runc machines whose disks are btrfs subvolumes: content is compared by
 * reading it back from inside the machines, never trusted from a response.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { daemonWithBusybox, refusedWith } from '../../support/machines.ts'
import { hangar } from '../../support/cli.ts'

const sleeper = { image: 'busybox:latest', init: { exec: ['sleep', '100000'] } }

test('checkpoints: take, list, restore, fork, retention, and nothing left after destroy', async (t) => {
  const d = await daemonWithBusybox(t, 'cpapp', ['--checkpoint-retention', '3'])
  const hm = d.client.machines
  const app = d.app
  const sh = async (id: string, cmd: string): Promise<string> => {
    const r = await hm.exec(app, id, { command: ['sh', '-c', cmd] })
    assert.equal(r.exit_code, 0, `${cmd}: ${r.stderr}`)
    return r.stdout
  }
  const frozenDisks = (): string[] => readdirSync(join(d.dataDir, 'runtime', 'disks', 'checkpoints'))

  const m = await hm.create(app, { config: sleeper })
  await hm.wait(app, m.id, { state: ['started'] })

  await t.test('a running machine is checkpointed, broken, and restored in one call: it runs again on the old disk', async () => {
    await sh(m.id, 'echo one > /state.txt; mkdir -p /opt/tool && echo "#!/bin/sh" > /opt/tool/run && echo "echo tool works" >> /opt/tool/run && chmod +x /opt/tool/run')
    const cp = await hm.checkpoint(app, m.id, { comment: 'tool installed' })
    assert.equal(cp.id, 'v1')
    assert.equal(cp.comment, 'tool installed')
    assert.equal(cp.source_id, null)
    assert.ok(cp.size_bytes > 0, `size_bytes ${cp.size_bytes}`)
    assert.ok(!Number.isNaN(Date.parse(cp.create_time)))
    assert.equal((await hm.get(app, m.id)).state, 'started', 'the machine runs on after the capture')

    await sh(m.id, 'echo two > /state.txt; rm -rf /opt/tool /bin/cat')
    const restored = await hm.restore(app, m.id, 'v1')
    assert.equal(restored.state, 'started')
    assert.equal(await sh(m.id, '/opt/tool/run'), 'tool works\n')
    assert.equal(await sh(m.id, 'cat /state.txt'), 'one\n')
    const types = (await hm.events(app, m.id, 50)).map((e) => e.type)
    assert.ok(types.includes('checkpoint') && types.includes('restore'), types.join(','))
  })

  await t.test('a stopped machine restored stays stopped, and starts on the restored disk', async () => {
    const cp = await hm.checkpoint(app, m.id)
    assert.equal(cp.source_id, 'v1', 'taken from a disk restored to v1')
    await sh(m.id, 'echo three > /state.txt')
    await hm.stop(app, m.id)
    await hm.wait(app, m.id, { state: ['stopped'] })
    const r = await hm.restore(app, m.id, cp.id)
    assert.equal(r.state, 'stopped')
    await hm.start(app, m.id)
    await hm.wait(app, m.id, { state: ['started'] })
    assert.equal(await sh(m.id, 'cat /state.txt'), 'one\n')
  })

  await t.test('forks diverge from their checkpoint and from each other, and never touch the source', async () => {
    const f = await hm.fork(app, m.id, { checkpoint: 'v1', name: 'fork-a' })
    assert.notEqual(f.id, m.id)
    assert.notEqual(f.private_ip, m.private_ip)
    assert.equal(f.name, 'fork-a')
    await hm.wait(app, f.id, { state: ['started'] })
    assert.equal(await sh(f.id, 'cat /state.txt'), 'one\n')
    assert.equal(await sh(f.id, 'hostname'), `${f.id}\n`)
    await sh(f.id, 'echo fork > /state.txt')
    await sh(m.id, 'echo source > /state.txt')
    assert.equal(await sh(f.id, 'cat /state.txt'), 'fork\n')
    assert.equal(await sh(m.id, 'cat /state.txt'), 'source\n')

    const many = await hm.fork(app, m.id, { count: 3 })
    assert.equal(many.length, 3)
    for (const [i, x] of many.entries()) {
      await hm.wait(app, x.id, { state: ['started'] })
      assert.equal(await sh(x.id, 'cat /state.txt'), 'source\n', 'a fork of the current disk sees what the source wrote')
      await sh(x.id, `echo ${i} > /state.txt`)
    }
    for (const [i, x] of many.entries()) assert.equal(await sh(x.id, 'cat /state.txt'), `${i}\n`)
    for (const x of [f, ...many]) await hm.destroy(app, x.id, { force: true })
  })

  await t.test('bad input is refused naming the problem, and nothing is made', async () => {
    const before = (await hm.list(app)).length
    await refusedWith(hm.restore(app, m.id, 'v99'), 'checkpoint_not_found')
    await refusedWith(hm.fork(app, m.id, { checkpoint: 'v99' }), 'checkpoint_not_found')
    const named = await hm.fork(app, m.id, { name: 'taken', skip_launch: true })
    await refusedWith(hm.fork(app, m.id, { name: 'taken' }), 'name_taken')
    await refusedWith(hm.fork(app, m.id, { count: 0 }), 'invalid_argument')
    await hm.destroy(app, named.id, { force: true })
    assert.equal((await hm.list(app)).length, before)
  })

  await t.test('past the retention count the oldest without a comment goes; all with comments is a clear refusal', async () => {
    // v1 (comment) and v2 exist; the third fits, the fourth evicts v2, the oldest without a comment.
    await hm.checkpoint(app, m.id, { comment: 'keep' })
    await hm.checkpoint(app, m.id)
    assert.deepEqual((await hm.checkpoints(app, m.id)).map((c) => c.id), ['v1', 'v3', 'v4'])
    await hm.deleteCheckpoint(app, m.id, 'v4')
    await refusedWith(hm.getCheckpoint(app, m.id, 'v4'), 'checkpoint_not_found')
    await hm.checkpoint(app, m.id, { comment: 'keep too' })
    await refusedWith(hm.checkpoint(app, m.id, { comment: 'one more' }), 'checkpoint_limit')
    assert.deepEqual((await hm.checkpoints(app, m.id)).map((c) => c.id), ['v1', 'v3', 'v5'])
    assert.equal(frozenDisks().length, 3)
  })

  await t.test('NDJSON progress ends in complete, carrying the checkpoint', async () => {
    await hm.deleteCheckpoint(app, m.id, 'v5')
    const res = await fetch(`${d.url}/v1/apps/${app}/machines/${m.id}/checkpoint`, {
      method: 'POST', headers: { authorization: `Bearer ${d.token}`, accept: 'application/x-ndjson', 'content-type': 'application/json' }, body: '{}',
    })
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson')
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { type: string; data?: { id?: string } })
    assert.ok(lines.length >= 2 && lines.slice(0, -1).every((l) => l.type === 'info'), JSON.stringify(lines))
    assert.equal(lines.at(-1)!.type, 'complete')
    assert.equal(lines.at(-1)!.data?.id, 'v6')
  })

  await t.test('the CLI checkpoints, lists, restores and forks', async () => {
    const cli = async (...args: string[]): Promise<unknown> => {
      const r = await hangar(d.env, 'machine', ...args, '--app', app, '--json')
      assert.equal(r.code, 0, r.stderr)
      return JSON.parse(r.stdout)
    }
    await sh(m.id, 'echo cli > /state.txt')
    const cp = await cli('checkpoint', m.id, '-m', 'from the cli') as { id: string; comment: string }
    assert.equal(cp.comment, 'from the cli')
    await sh(m.id, 'echo later > /state.txt')
    assert.ok((await cli('checkpoints', m.id) as { id: string }[]).some((c) => c.id === cp.id))
    assert.equal((await cli('restore', m.id, cp.id) as { state: string }).state, 'started')
    assert.equal(await sh(m.id, 'cat /state.txt'), 'cli\n')
    const [fork] = await cli('fork', m.id, '--checkpoint', cp.id, '--skip-launch') as { id: string; state: string }[]
    assert.equal(fork!.state, 'created')
    await hm.destroy(app, fork!.id, { force: true })
  })

  await t.test('destroy takes the machine\'s checkpoints with it', async () => {
    await hm.destroy(app, m.id, { force: true })
    assert.deepEqual(frozenDisks(), [])
  })
})

test('a checkpoint holds the machine\'s volume too: restore brings both back, forks get volumes of their own', async (t) => {
  const d = await daemonWithBusybox(t, 'cpvol')
  const { machines: hm, volumes: hv } = d.client
  const app = d.app
  const sh = async (id: string, cmd: string): Promise<string> => {
    const r = await hm.exec(app, id, { command: ['sh', '-c', cmd] })
    assert.equal(r.exit_code, 0, `${cmd}: ${r.stderr}`)
    return r.stdout
  }
  const vol = await hv.create(app, { name: 'data', size_gb: 1 })
  const m = await hm.create(app, { config: { ...sleeper, mounts: [{ volume: vol.id, path: '/data' }] } })
  await hm.wait(app, m.id, { state: ['started'] })
  await sh(m.id, 'echo disk-1 > /state.txt; echo vol-1 > /data/state.txt')

  const cp = await hm.checkpoint(app, m.id, { comment: 'with data' })
  assert.equal(cp.volumes.length, 1)
  assert.equal(cp.volumes[0]!.volume_id, vol.id)
  assert.ok((await hv.snapshots(app, vol.id)).some((s) => s.id === cp.volumes[0]!.snapshot_id), 'the volume lists the checkpoint\'s snapshot')

  await sh(m.id, 'echo disk-2 > /state.txt; echo vol-2 > /data/state.txt; rm -rf /data/*')
  const r = await hm.restore(app, m.id, cp.id)
  assert.deepEqual(r.volumes_restored, [vol.id])
  assert.equal(await sh(m.id, 'cat /state.txt /data/state.txt'), 'disk-1\nvol-1\n')

  const forks = await hm.fork(app, m.id, { checkpoint: cp.id, count: 2 })
  for (const [i, f] of forks.entries()) {
    const mounted = (f.config as { mounts?: { volume: string }[] }).mounts?.[0]?.volume
    assert.ok(mounted && mounted !== vol.id, `fork ${f.id} mounts a volume of its own (${mounted})`)
    await hm.wait(app, f.id, { state: ['started'] })
    assert.equal(await sh(f.id, 'cat /data/state.txt'), 'vol-1\n')
    await sh(f.id, `echo fork-${i} > /data/state.txt`)
  }
  await sh(m.id, 'echo vol-3 > /data/state.txt')
  for (const [i, f] of forks.entries()) assert.equal(await sh(f.id, 'cat /data/state.txt'), `fork-${i}\n`)
  const now = await hm.fork(app, m.id, {})
  await hm.wait(app, now.id, { state: ['started'] })
  assert.equal(await sh(now.id, 'cat /data/state.txt'), 'vol-3\n', 'a fork of the disk now takes the volume as it is now')
  assert.equal(await sh(m.id, 'cat /data/state.txt'), 'vol-3\n')
  assert.equal((await hv.list(app)).length, 4, 'the source volume and one per fork')

  await hm.deleteCheckpoint(app, m.id, cp.id)
  assert.ok(!(await hv.snapshots(app, vol.id)).some((s) => s.id === cp.volumes[0]!.snapshot_id), 'the checkpoint\'s volume snapshot goes with it')
  for (const x of [...forks, now]) await hm.destroy(app, x.id, { force: true })
})
