/**
 * Raw TCP services (ports without handlers): the proxy listens on the
 * service's external port on its host and pipes bytes to the machine, starting
 * it if stopped; the listener goes when no machine declares the port.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { daemonWithBusybox } from '../../support/machines.ts'
import { webMachine } from './support.ts'
import { freePort } from '../../support/net.ts'

/** Sends `line` to 127.0.0.1:port and resolves with what comes back first (or an error). */
function echo(port: number, line: string, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(line))
    let got = ''
    s.setEncoding('utf8')
    s.on('data', (c: string) => {
      got += c
      if (got.includes('\n')) {
        s.destroy()
        resolve(got)
      }
    })
    s.on('error', reject)
    s.on('close', () => resolve(got))
    s.setTimeout(timeoutMs, () => s.destroy(new Error('timed out')))
  })
}

async function until<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      if (Date.now() > deadline) throw e
      await sleep(50)
    }
  }
}

test('a raw TCP service is piped from the proxy host, with autostart', async (t) => {
  const port = await freePort()
  // The operator's range holds just this port: anything else a service names is refused.
  const d = await daemonWithBusybox(t, 'testapp', ['--tcp-ports', String(port)])
  const hm = d.client.machines
  const services = [{ protocol: 'tcp', internal_port: 9000, ports: [{ port }], autostart: true, autostop: false }]
  const m = await webMachine(d, { services, exec: ['nc', '-ll', '-p', '9000', '-e', '/bin/cat'] })

  await t.test('a TCP service on a port outside the operator\'s ranges is refused, and nothing is made', async () => {
    const before = (await hm.list(d.app)).length
    const version = (await hm.get(d.app, m.id)).instance_id
    for (const bad of [22, port + 1]) {
      const outside = [{ protocol: 'tcp' as const, internal_port: 9000, ports: [{ port: bad }] }]
      await assert.rejects(hm.create(d.app, { config: { image: d.image, services: outside } }), (e: Error & { code?: string; status?: number; details?: { port: number } }) =>
        e.code === 'port_not_allowed' && e.status === 403 && e.details?.port === bad && e.message.includes(String(port)))
      await assert.rejects(hm.update(d.app, m.id, { config: { image: d.image, services: outside } }), { code: 'port_not_allowed' })
    }
    assert.equal((await hm.list(d.app)).length, before)
    assert.equal((await hm.get(d.app, m.id)).instance_id, version)
  })

  await t.test('bytes go to the machine and back', async () => {
    assert.equal(await until(() => echo(port, 'hello tcp\n').then((r) => (r ? r : Promise.reject(new Error('empty'))))), 'hello tcp\n')
    const many = await Promise.all([1, 2, 3, 4].map((i) => echo(port, `line ${i}\n`)))
    assert.deepEqual(many, ['line 1\n', 'line 2\n', 'line 3\n', 'line 4\n'])
  })

  await t.test('a stopped machine is started by a connection', async () => {
    await hm.stop(d.app, m.id)
    await hm.wait(d.app, m.id, { state: ['stopped'] })
    assert.equal(await echo(port, 'wake up\n'), 'wake up\n')
    assert.equal((await hm.get(d.app, m.id)).state, 'started')
  })

  await t.test('the listener closes when no machine declares the port', async () => {
    await hm.destroy(d.app, m.id, { force: true })
    await until(async () => {
      const r = await echo(port, 'x\n').catch((e: NodeJS.ErrnoException) => e.code)
      if (r !== 'ECONNREFUSED') throw new Error(`still served: ${r}`)
    })
  })
})
