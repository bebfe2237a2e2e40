/**
 * concurrency.type "connections" on real machines: a client's keep-alive
 * connection is bound to one machine and holds one slot there until the
 * client closes it. The daemon runs with a 1 s idle period and a 2 s wake
 * timeout (also the longest a request waits in the queue). Clients are
 * node:http Agents with one keep-alive socket each: one Agent, one connection.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, webMachine } from './support.ts'

process.env.HANGAR_AUTOSTOP_IDLE = '1s'
process.env.HANGAR_WAKE_TIMEOUT = '2s'

interface Answer {
  status: number
  body: string
  /** The client side's port: one value per client connection. */
  port: number | undefined
}

/** GET through the proxy on `agent`'s connection, Host `<app>.localhost`. */
function viaConnection(proxyUrl: string, agent: http.Agent, app: string, path = '/id', headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(proxyUrl)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, agent, setHost: false, headers: { host: `${app}.localhost`, ...headers } }, (res) => {
      const port = res.socket?.localPort
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), port }))
      res.on('error', reject)
    })
    req.setTimeout(20_000, () => req.destroy(new Error(`no answer from the proxy for ${app}${path} in 20s`)))
    req.on('error', reject)
    req.end()
  })
}

/** One client connection (a keep-alive Agent with a single socket), closed with the test. */
function connection(t: { after: (fn: () => void) => void }): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  return agent
}

test('concurrency type connections: one slot per client connection, on one machine, until it closes', async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const state = async (app: string, id: string): Promise<string> => (await hm.get(app, id)).state

  await t.test('two keep-alive connections land on different machines, and each stays on its own', async (t) => {
    const services = httpServices({ autostop: false, concurrency: { type: 'connections', soft_limit: 1 } })
    const a = await webMachine(d, { services })
    const b = await webMachine(d, { services })
    const c1 = connection(t)
    const c2 = connection(t)
    const one = await viaConnection(d.proxyUrl, c1, d.app)
    const two = await viaConnection(d.proxyUrl, c2, d.app)
    assert.deepEqual([one.status, two.status], [200, 200])
    assert.deepEqual([one.body, two.body].sort(), [a.id, b.id].sort(), 'soft_limit 1: the second connection goes to the other machine')
    // Were requests balanced one by one, 20 of them would not all land where their connection's first one did.
    for (let i = 0; i < 10; i++) {
      const x = await viaConnection(d.proxyUrl, c1, d.app)
      const y = await viaConnection(d.proxyUrl, c2, d.app)
      assert.deepEqual([x.body, x.port], [one.body, one.port], 'same connection, same machine')
      assert.deepEqual([y.body, y.port], [two.body, two.port])
    }
    // Routing controls win over the binding: a forced request goes where it is asked; the connection stays bound.
    const forced = await viaConnection(d.proxyUrl, c1, d.app, '/id', { 'fly-force-instance-id': two.body })
    assert.deepEqual([forced.body, forced.port], [two.body, one.port])
    assert.equal((await viaConnection(d.proxyUrl, c1, d.app)).body, one.body)
    c1.destroy()
    c2.destroy()
    await hm.destroy(d.app, a.id, { force: true })
    await hm.destroy(d.app, b.id, { force: true })
  })

  await t.test('an open idle connection keeps its machine from autostop; once the clients close the load is 0 and both stop', async (t) => {
    await d.client.apps.create('idleapp')
    const services = httpServices({ autostop: 'stop', concurrency: { type: 'connections', soft_limit: 1 } })
    const a = await webMachine(d, { app: 'idleapp', services })
    const b = await webMachine(d, { app: 'idleapp', services })
    const c1 = connection(t)
    const c2 = connection(t)
    // A machine autostop took while the test set up is woken by the request.
    const one = await viaConnection(d.proxyUrl, c1, 'idleapp')
    const two = await viaConnection(d.proxyUrl, c2, 'idleapp')
    assert.deepEqual([one.body, two.body].sort(), [a.id, b.id].sort())
    // Idle well past the 1 s idle period, but under the 4-5 s the client and the proxy keep an idle keep-alive connection.
    await sleep(2500)
    assert.deepEqual([await state('idleapp', a.id), await state('idleapp', b.id)], ['started', 'started'], 'open connections are load')
    assert.deepEqual([(await viaConnection(d.proxyUrl, c1, 'idleapp')).port, (await viaConnection(d.proxyUrl, c2, 'idleapp')).port], [one.port, two.port], 'still the same connections')
    c1.destroy()
    c2.destroy()
    // Autostop takes only machines whose load is 0: both stopping shows both slots were given back.
    await hm.wait('idleapp', a.id, { state: ['stopped'], timeout: 15 })
    await hm.wait('idleapp', b.id, { state: ['stopped'], timeout: 15 })
  })

  await t.test('hard_limit counts connections: a connection waits for another to close, and past the wait is a 503', async (t) => {
    await d.client.apps.create('hardapp')
    const services = httpServices({ autostop: false, concurrency: { type: 'connections', soft_limit: 1, hard_limit: 1 } })
    const m = await webMachine(d, { app: 'hardapp', services })
    const c1 = connection(t)
    const c2 = connection(t)
    const c3 = connection(t)
    assert.equal((await viaConnection(d.proxyUrl, c1, 'hardapp')).body, m.id)
    // c1 is idle but open: it holds the only slot, so c2's request queues until c1 closes.
    const t0 = Date.now()
    const waiting = viaConnection(d.proxyUrl, c2, 'hardapp')
    await sleep(1000)
    c1.destroy()
    const second = await waiting
    assert.equal(second.status, 200)
    assert.equal(second.body, m.id)
    assert.ok(Date.now() - t0 >= 900, `c2 waited for c1 to close: ${Date.now() - t0} ms`)
    // c2's later requests ride its own slot: no queueing behind itself.
    for (let i = 0; i < 3; i++) assert.equal((await viaConnection(d.proxyUrl, c2, 'hardapp')).status, 200)
    // c2 idles with the slot; c3 waits the 2 s queue limit and gets a 503 saying so.
    const late = await viaConnection(d.proxyUrl, c3, 'hardapp')
    assert.equal(late.status, 503)
    assert.match(late.body, /waited 2000 ms in app hardapp's queue/)
    assert.match(late.body, /hard_limit/)
    c2.destroy()
    c3.destroy()
    // With every connection closed the slot is free again: a new connection is served at once.
    const c4 = connection(t)
    const t1 = Date.now()
    // (c2's close reaches the proxy a moment after destroy(); a request in that moment queues briefly.)
    const fresh = await viaConnection(d.proxyUrl, c4, 'hardapp')
    assert.equal(fresh.status, 200)
    assert.ok(Date.now() - t1 < 1500, `served without waiting out the queue: ${Date.now() - t1} ms`)
  })
})
