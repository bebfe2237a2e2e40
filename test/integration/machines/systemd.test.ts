/**
 * systemd inside, as a robot would get there: install it in a running Debian
 * machine (tini as PID 1), enable a unit, switch `config.init.exec` with an
 * update, and the unit serves HTTP through the proxy, after every stop/start;
 * stop shuts systemd down in time, and the journal reaches `machine logs`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startDaemon } from '../../support/daemon.ts'
import { viaProxy } from '../proxy/support.ts'

const unit = `[Unit]
Description=hangar test web
[Service]
ExecStartPre=/bin/echo web unit starting
ExecStart=/bin/busybox httpd -f -p 8080 -h /srv
[Install]
WantedBy=multi-user.target
`

test('a unit a robot enables runs under systemd as PID 1, through the proxy, after stop/start', { timeout: 600_000 }, async (t) => {
  const d = await startDaemon(t)
  await d.client.images.buildBase({})
  const hm = d.client.machines
  await d.client.apps.create('sd')
  const m = await hm.create('sd', { config: { image: 'debian' } })
  const setup = await hm.exec('sd', m.id, {
    cmd: 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd busybox >/dev/null'
      + ` && mkdir -p /srv && echo "hello from systemd" > /srv/index.html && printf '%s' '${unit}' > /etc/systemd/system/web.service && systemctl enable web.service`,
    timeout: 600,
  })
  assert.equal(setup.exit_code, 0, `${setup.stdout.slice(-2000)}\n${setup.stderr.slice(-2000)}`)

  const current = await hm.get('sd', m.id)
  const updated = await hm.update('sd', m.id, { config: { ...current.config, image: String(current.config.image), init: { exec: ['/lib/systemd/systemd'] } } })
  assert.equal(updated.state, 'started')

  const throughProxy = async (): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const res = await viaProxy(d, 'sd').catch(() => null)
      if (res?.status === 200) return res.body
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error('the unit never answered through the proxy')
  }

  await t.test('systemd is PID 1, the system is running and the unit answers through the proxy', async () => {
    assert.equal(await throughProxy(), 'hello from systemd\n')
    const pid1 = await hm.exec('sd', m.id, { command: ['cat', '/proc/1/comm'] })
    assert.equal(pid1.stdout.trim(), 'systemd')
    const state = await hm.exec('sd', m.id, { command: ['systemctl', 'is-system-running', '--wait'], timeout: 60 })
    assert.equal(state.stdout.trim(), 'running', state.stdout + state.stderr)
  })

  await t.test('the journal reaches machine logs', async () => {
    // journald forwards to the console as it goes: give it a moment under load.
    let lines = ''
    for (let i = 0; i < 50 && !(/web unit starting/.test(lines) && /Started web\.service/.test(lines)); i++) {
      lines = (await hm.logs('sd', m.id, { tail: 1000 })).map((l) => l.message).join('\n')
      if (i) await new Promise((r) => setTimeout(r, 100))
    }
    assert.match(lines, /web unit starting/, 'the unit\'s own output, through the journal')
    assert.match(lines, /Started web\.service/)
  })

  await t.test('stop shuts systemd down within the grace period; the unit is back after start', async () => {
    const t0 = Date.now()
    await hm.stop('sd', m.id)
    await hm.wait('sd', m.id, { state: ['stopped'], timeout: 30 })
    assert.ok(Date.now() - t0 < 10_000, `stopped in ${Date.now() - t0} ms`)
    const exit = (await hm.events('sd', m.id, 10)).find((e) => e.type === 'exit')
    assert.equal((exit?.request as { exit_event?: { exit_code?: number } })?.exit_event?.exit_code, 0, 'systemd halted cleanly')
    await hm.start('sd', m.id)
    assert.equal(await throughProxy(), 'hello from systemd\n')
  })
})
