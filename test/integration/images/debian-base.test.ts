/**
 * The Debian base image, built for real (mmdebstrap against the host's Debian
 * archive, about half a minute) once, through a daemon: REST + SSE + SDK.
 * Then `hangar machine run debian` semantics: apt-get install inside a machine
 * over the host's NAT, and the package is still there after stop/start.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import type { BuildProgress, Image } from '../../../src/sdk/index.ts'
import { startDaemon } from '../../support/daemon.ts'

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

test('the Debian base image builds once, runs machines that apt-get install, and keeps what they installed', async (t) => {
  const d = await startDaemon(t)
  const events: BuildProgress[] = []
  const t0 = Date.now()
  const building = d.client.images.buildBase({}, (p) => events.push(p))
  await new Promise((r) => setTimeout(r, 500))
  // A machine asked for while the base is still being built waits for it instead of failing.
  await d.client.apps.create('early')
  const early = d.client.machines.create('early', { skip_launch: true, config: { image: 'debian' } })
  const img: Image = await building
  const buildMs = Date.now() - t0
  assert.equal((await early).state, 'created')
  await d.client.machines.destroy('early', (await early).id)
  t.diagnostic(`build-base: ${secs(buildMs)}, ${(img.size / 1e6).toFixed(1)} MB compressed, ${events.length} progress events`)

  await t.test('it is tagged debian:bookworm and debian:latest, with tini as the entrypoint', async () => {
    assert.equal(img.ref, 'debian:bookworm')
    assert.equal((await d.client.images.get('debian')).digest, img.digest, 'debian means debian:latest')
    assert.deepEqual(img.config.entrypoint, ['/usr/bin/tini', '-s', '--'])
    assert.deepEqual(img.config.cmd, ['sleep', 'infinity'])
    assert.equal(img.config.workingDir, '/root')
    assert.equal(img.config.labels['io.hangar.base.suite'], 'bookworm')
    assert.equal(img.layers.length, 1)
  })

  await t.test('progress came in phase order, ending done', () => {
    const phases = [...new Set(events.map((e) => e.phase))]
    assert.deepEqual(phases, ['resolving', 'downloading', 'extracting', 'installing', 'packing', 'importing', 'done'])
    assert.ok(events.some((e) => e.phase === 'downloading' && e.percent !== undefined), 'downloads are counted')
  })

  await t.test('the layer has apt, the CA roots, bash and tini, and no apt lists or device nodes', () => {
    const blob = join(d.dataDir, 'images', 'blobs', 'sha256', img.layers[0]!.slice('sha256:'.length))
    const names = new Set(execFileSync('tar', ['-tzf', blob], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n'))
    for (const p of ['./usr/bin/apt-get', './etc/ssl/certs/', './usr/bin/bash', './usr/bin/tini', './etc/apt/sources.list']) assert.ok(names.has(p), `${p} in the layer`)
    assert.ok(![...names].some((n) => /^\.\/var\/lib\/apt\/lists\/[^/]+_Packages/.test(n)), 'no package lists')
    assert.ok(![...names].some((n) => n.startsWith('./dev/')), 'no /dev entries')
    const sources = execFileSync('tar', ['-xzOf', blob, './etc/apt/sources.list'], { encoding: 'utf8' })
    assert.match(sources, /^deb http:\/\/\S+ bookworm main$/m)
  })

  await t.test('a second build returns the cached image at once; a bad suite is a 400', async () => {
    const t1 = Date.now()
    const again = await d.client.images.buildBase({})
    assert.equal(again.digest, img.digest)
    assert.ok(Date.now() - t1 < 5000, 'cached, not rebuilt')
    const res = await fetch(`${d.url}/v1/images/build-base`, {
      method: 'POST', headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ suite: 'Not A Suite' }),
    })
    assert.equal(res.status, 400)
    assert.equal(((await res.json()) as { code: string }).code, 'invalid_argument')
  })

  await t.test('machine run debian: apt-get install survives stop/start', async () => {
    const hm = d.client.machines
    await d.client.apps.create('deb')
    const t2 = Date.now()
    const m = await hm.create('deb', { config: { image: 'debian' } })
    t.diagnostic(`first machine from the base (unpack + create + start): ${secs(Date.now() - t2)}`)
    assert.equal(m.state, 'started')
    const ps = await hm.exec('deb', m.id, { command: ['ps', '-eo', 'args'] })
    assert.match(ps.stdout, /^\/usr\/bin\/tini -s -- sleep infinity$/m, 'the image\'s tini runs the command')
    const zombies = await hm.exec('deb', m.id, { cmd: '(sleep 0.2 &); sleep 1; ps -eo stat= | grep -c "^Z" || true' })
    assert.equal(zombies.stdout.trim(), '0', 'an orphan that exits is reaped')

    const t3 = Date.now()
    const install = await hm.exec('deb', m.id, { cmd: 'apt-get update -q && apt-get install -y -q --no-install-recommends jq', timeout: 600 })
    t.diagnostic(`apt-get update && install jq in the machine: ${secs(Date.now() - t3)}`)
    assert.equal(install.exit_code, 0, `apt-get failed:\n${install.stdout.slice(-2000)}\n${install.stderr.slice(-2000)}`)

    await hm.stop('deb', m.id)
    await hm.start('deb', m.id)
    await hm.wait('deb', m.id, { state: ['started'], timeout: 30 })
    const status = await hm.exec('deb', m.id, { command: ['dpkg', '-s', 'jq'] })
    assert.equal(status.exit_code, 0, status.stderr)
    const jq = await hm.exec('deb', m.id, { cmd: 'echo \'{"a":[1,2]}\' | jq -c .a && jq --version' })
    assert.equal(jq.exit_code, 0, jq.stderr)
    assert.match(jq.stdout, /^\[1,2\]\njq-1\./)
    const logs = (await hm.logs('deb', m.id)).map((l) => l.message).join('\n')
    assert.doesNotMatch(logs, /WARN/, 'tini does not warn about not being PID 1')
  })

  await t.test('checkpoint, break the machine (rm -rf /usr), restore: the installed package works again', async () => {
    const hm = d.client.machines
    const [m] = await hm.list('deb')
    const cp = await hm.checkpoint('deb', m!.id, { comment: 'jq installed' })
    const broken = await hm.exec('deb', m!.id, { command: ['rm', '-rf', '--no-preserve-root', '/usr'] })
    t.diagnostic(`rm -rf /usr exited ${broken.exit_code}`)
    const gone = await hm.exec('deb', m!.id, { command: ['/usr/bin/jq', '--version'] }).then((r) => r.exit_code, () => 'refused')
    assert.notEqual(gone, 0, 'jq is gone with /usr')
    const t4 = Date.now()
    const r = await hm.restore('deb', m!.id, cp.id)
    t.diagnostic(`restore of a running Debian machine (stop, swap the disk, start): ${secs(Date.now() - t4)}`)
    assert.equal(r.state, 'started')
    const jq = await hm.exec('deb', m!.id, { cmd: 'echo \'{"a":[1,2]}\' | jq -c .a' })
    assert.equal(jq.exit_code, 0, jq.stderr)
    assert.equal(jq.stdout, '[1,2]\n')
  })
})
