import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { daemonWithBusybox, httpGet } from '../../support/machines.ts'
import { hangar } from '../../support/cli.ts'
import { netArgs } from '../../support/daemon.ts'
import { removeFirewallTables } from '../../support/runtime.ts'


test('the CLI runs, lists, execs, stops, starts and destroys a machine, with --json everywhere', async (t) => {
  const d = await daemonWithBusybox(t)
  const env = d.env

  const created = await hangar(env, 'machine', 'run', 'busybox', '--app', 'cliapp', '--name', 'web', '--env', 'GREETING=hi', '--memory', '128', '--json')
  assert.equal(created.code, 0, created.stderr)
  const m = JSON.parse(created.stdout)
  assert.equal(m.state, 'started')
  assert.equal(m.config.guest.memory_mb, 128)
  assert.equal((await httpGet(`http://${m.private_ip}:8080/`)).status, 200)

  const list = await hangar(env, 'machine', 'list', '--json')
  assert.deepEqual(JSON.parse(list.stdout).map((x: { name: string }) => x.name), ['web'])

  const exec = await hangar(env, 'machine', 'exec', 'web', '--', 'sh', '-c', 'echo $GREETING; exit 5')
  assert.equal(exec.code, 5, 'exit code of the command')
  assert.equal(exec.stdout, 'hi\n')

  assert.equal((await hangar(env, 'machine', 'stop', 'web')).code, 0)
  const status = JSON.parse((await hangar(env, 'machine', 'status', 'web', '--json')).stdout)
  assert.equal(status.state, 'stopped')
  assert.equal((await hangar(env, 'machine', 'start', 'web')).code, 0)

  const updated = await hangar(env, 'machine', 'update', 'web', '--env', 'GREETING=bye', '--json')
  assert.equal(updated.code, 0, updated.stderr)
  assert.equal(JSON.parse(updated.stdout).state, 'started')
  assert.equal((await hangar(env, 'machine', 'exec', 'web', '--', 'sh', '-c', 'echo $GREETING')).stdout, 'bye\n')

  const logs = await hangar(env, 'machine', 'logs', 'web', '--json')
  assert.equal(logs.code, 0)

  const refused = await hangar(env, 'machine', 'destroy', 'web')
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /^error: .*from state 'started'/m)
  assert.match(refused.stderr, /^hint: .*force/m)
  assert.equal((await hangar(env, 'machine', 'destroy', 'web', '--force')).code, 0)
  assert.equal((await hangar(env, 'apps', 'destroy', 'cliapp')).code, 0)
})

test('CLI errors are structured under --json and say what to do', async (t) => {
  const d = await daemonWithBusybox(t)
  const missing = await hangar(d.env, 'machine', 'status', 'nosuchmachine', '--json')
  assert.equal(missing.code, 1)
  const err = JSON.parse(missing.stdout).error
  assert.equal(err.code, 'machine_not_found')
  assert.match(err.hint, /hangar machine list/)

  const usage = await hangar(d.env, 'machine', 'run')
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /usage: hangar machine run IMAGE/)

  const badFlag = await hangar(d.env, 'machine', 'list', '--bogus')
  assert.equal(badFlag.code, 2)

  const noDaemon = await hangar({ ...d.env, HANGAR_API_URL: 'http://127.0.0.1:1' }, 'apps', 'list')
  assert.equal(noDaemon.code, 1)
  assert.match(noDaemon.stderr, /hint: start it with `.\/hangar up`/)
})

test('hangar up on a port already in use says so, names the flag, and exits', async (t) => {
  const holder = createServer()
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r))
  t.after(() => holder.close())
  const port = (holder.address() as AddressInfo).port
  const dataDir = await mkdtemp(join(tmpdir(), 'hangar-port-'))
  t.after(() => rm(dataDir, { recursive: true, force: true }))
  // --machines-fs none: this daemon never gets to run machines, so it makes no filesystem for them.
  // A network of its own: the default one's firewall, left behind, would judge other tests' 10.209.x traffic.
  const net = netArgs()
  t.after(() => removeFirewallTables(net[net.indexOf('--network-name') + 1] as string))
  const r = await hangar(process.env, 'up', '--data-dir', dataDir, '--api-port', String(port), '--no-base-image', '--machines-fs', 'none', '--log-level', 'silent', ...net)
  assert.equal(r.code, 1)
  assert.match(r.stderr, new RegExp(`error: 127\\.0\\.0\\.1:${port} is already in use`))
  assert.match(r.stderr, /hint: .*--api-port/)
})

test('hangar machine run --volume mounts a volume; a malformed one is refused before anything is made', async (t) => {
  const d = await daemonWithBusybox(t, 'volrun')
  const vol = await d.client.volumes.create('volrun', { name: 'data', size_gb: 1 })
  const run = await hangar(d.env, 'machine', 'run', 'busybox', '--app', 'volrun', '--volume', `${vol.id}:/data`, '--json', '--', 'sleep', '1000')
  assert.equal(run.code, 0, run.stderr)
  const m = JSON.parse(run.stdout) as { id: string; config: { mounts?: { volume: string; path: string }[] } }
  assert.deepEqual(m.config.mounts?.map((x) => [x.volume, x.path]), [[vol.id, '/data']])
  const w = await hangar(d.env, 'machine', 'exec', m.id, '--app', 'volrun', '--', 'sh', '-c', 'echo kept > /data/x && cat /data/x')
  assert.equal(w.stdout, 'kept\n')
  const bad = await hangar(d.env, 'machine', 'run', 'busybox', '--app', 'volrun', '--volume', 'no-colon')
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--volume takes VOLUME_ID:\/path/)
  assert.equal((await d.client.machines.list('volrun')).length, 1)
})
