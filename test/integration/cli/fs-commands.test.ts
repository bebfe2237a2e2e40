/** `hangar fs …` against a real daemon: a machine that has never run gets files, archives go down and up, errors name their code. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { daemonWithBusybox } from '../../support/machines.ts'
import { hangar } from '../../support/cli.ts'


test('hangar fs writes, lists, reads, moves, archives and deletes files of a stopped machine', async (t) => {
  const d = await daemonWithBusybox(t)
  const env = { ...d.env, HANGAR_APP: d.app }
  const local = await mkdtemp(join(tmpdir(), 'hangar-fs-cli-'))
  t.after(() => rm(local, { recursive: true, force: true }))
  const m = await d.client.machines.create(d.app, { name: 'box', skip_launch: true, config: { image: d.image } })
  const ok = async (...args: string[]): Promise<string> => {
    const r = await hangar(env, 'fs', ...args)
    assert.equal(r.code, 0, `hangar fs ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }

  await writeFile(join(local, 'run.sh'), '#!/bin/sh\necho from the cli\n')
  assert.match(await ok('write', 'box', '/opt/app/run.sh', join(local, 'run.sh'), '--mode', '0755', '-p'), /wrote 28 bytes to \/opt\/app\/run.sh \(mode 0755\)/)
  await ok('chown', 'box', '1000:1000', '/opt/app', '-r')
  const listed = JSON.parse(await ok('ls', 'box', '/opt', '-r', '--json')) as { entries: { path: string; mode: string; uid: number }[] }
  assert.deepEqual(listed.entries.map((e) => [e.path, e.mode, e.uid]), [['/opt/app', '0755', 1000], ['/opt/app/run.sh', '0755', 1000]])
  assert.equal(await ok('read', 'box', 'app/run.sh', '-C', '/opt'), '#!/bin/sh\necho from the cli\n')

  await ok('tar-down', 'box', '/opt/app', '-o', join(local, 'app.tar'))
  await ok('tar-up', 'box', '/srv/copy', join(local, 'app.tar'), '-p')
  await ok('mv', 'box', '/srv/copy/run.sh', '/srv/copy/start.sh')
  await ok('read', 'box', '/srv/copy/start.sh', '-o', join(local, 'back.sh'))
  assert.equal(await readFile(join(local, 'back.sh'), 'utf8'), '#!/bin/sh\necho from the cli\n')

  const missing = await hangar(env, 'fs', 'read', 'box', '/srv/copy/run.sh')
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /not_found.*ENOENT/s)
  const notEmpty = await hangar(env, 'fs', 'rm', 'box', '/srv/copy')
  assert.match(notEmpty.stderr, /Directory not empty/)
  assert.match(await ok('rm', 'box', '/srv/copy', '-r'), /deleted 2 paths/)

  await d.client.machines.start(d.app, m.id)
  const r = await d.client.machines.exec(d.app, m.id, { cmd: '/opt/app/run.sh; stat -c "%u %a" /opt/app/run.sh; ls /srv' })
  assert.equal(r.stdout, 'from the cli\n1000 755\n')
})
