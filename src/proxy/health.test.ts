/** Service health checks (health.ts), in process (test/support/proxy-rig.ts): loopback servers standing in for machines. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { probe } from './health.ts'
import { httpService, type HealthCheck } from './route-table.ts'
import { freePort } from '../../test/support/net.ts'
import { get, rig, until } from '../../test/support/proxy-rig.ts'

test('checks are read in Fly shape, with Fly-like defaults', () => {
  const s = httpService({ services: [{ internal_port: 80, ports: [{ handlers: ['http'] }], checks: [{ type: 'http', path: '/health', interval: '5s', headers: [{ name: 'x-probe', values: ['1'] }] }, {}] }] })
  assert.deepEqual(s.checks, [
    { type: 'http', intervalMs: 5000, timeoutMs: 2000, graceMs: 1000, method: 'GET', path: '/health', https: false, headers: [['x-probe', '1']] },
    { type: 'tcp', intervalMs: 15000, timeoutMs: 2000, graceMs: 1000, method: 'GET', path: '/', https: false, headers: [] },
  ])
})

test('a machine failing its HTTP check gets no balanced traffic until it passes again; named requests still reach it; all failing is a 503 saying why', async (t) => {
  const status: Record<string, number> = { m1: 200, m2: 200 }
  const checks = [{ type: 'http', path: '/health', interval: '50ms', timeout: '500ms', grace_period: '0s' }]
  const machine = (id: string) => ({
    id,
    service: { checks, concurrency: { type: 'requests', soft_limit: 100 } },
    handler: (req: { url?: string }, res: { writeHead(s: number): { end(): void } }) => (req.url === '/health' ? (res.writeHead(status[id] as number).end(), true) : false),
  })
  const r = await rig(t, [machine('m1'), machine('m2')])
  const health = (id: string) => r.proxy.routes.machine(id)?.health
  const answers = async (n: number): Promise<Set<string>> => {
    const seen = new Set<string>()
    for (let i = 0; i < n; i++) seen.add((await get(r, false)).body)
    return seen
  }
  await until('both machines to pass', () => health('m1')?.passing === true && health('m2')?.passing === true)
  assert.deepEqual([...(await answers(40))].sort(), ['m1', 'm2'])

  status.m1 = 500
  await until('m1 to fail its check', () => health('m1')?.passing === false)
  assert.equal(health('m1')?.output, 'HTTP GET /health answered 500')
  const [check] = r.proxy.checks('m1') ?? []
  assert.equal(check?.status, 'critical')
  assert.equal(check?.output, 'HTTP GET /health answered 500')
  assert.match(check?.name ?? '', /^servicecheck-00-http-\d+$/)
  assert.ok(Date.parse(check?.updated_at ?? '') > Date.now() - 5000)
  assert.deepEqual(r.proxy.checks('m2')?.map((c) => [c.status, c.output]), [['passing', 'HTTP GET /health passed']])
  assert.deepEqual([...(await answers(20))], ['m2'])
  assert.equal((await get(r, false, '/', { 'fly-force-instance-id': 'm1' })).body, 'm1', 'a forced request still goes where it asks')
  assert.equal((await get(r, false, '/', { 'fly-prefer-instance-id': 'm1' })).body, 'm2', 'a preference falls back')

  status.m2 = 503
  await until('m2 to fail too', () => health('m2')?.passing === false)
  const none = await get(r, false)
  assert.equal(none.status, 503)
  assert.match(none.body, /every started machine of app a fails its health checks \(m1: HTTP GET \/health answered 500; m2: HTTP GET \/health answered 503\)/)

  status.m1 = 200
  await until('m1 to pass again', () => health('m1')?.passing === true)
  assert.deepEqual([...(await answers(10))], ['m1'])
})

test('a TCP check on a port nobody listens on fails with what it saw; stopping the machine forgets its health', async (t) => {
  const closed = await freePort()
  const r = await rig(t, [{ id: 'm1', service: { internal_port: closed, checks: [{ type: 'tcp', interval: '50ms', grace_period: '0s' }] } }])
  await until('the check to fail', () => r.proxy.routes.machine('m1')?.health?.passing === false)
  assert.match(r.proxy.routes.machine('m1')?.health?.output ?? '', /^TCP connect to port \d+: connect ECONNREFUSED/)
  r.set('m1', 'stopped')
  assert.equal(r.proxy.routes.machine('m1')?.health, null)
  assert.deepEqual(r.proxy.checks('m1')?.map((c) => [c.status, c.output]), [['warning', 'not running: the machine is stopped, and checks run while it is started']])
})

test('checks stored before the API validated them are read without throwing', () => {
  const s = httpService({ services: [{ internal_port: 80, ports: [{ handlers: ['http'] }], checks: [null, { interval: true, method: 1, headers: 'x', path: 7 }, 'tcp'] }] })
  assert.deepEqual(s.checks, [{ type: 'tcp', intervalMs: 15000, timeoutMs: 2000, graceMs: 1000, method: 'GET', path: '/', https: false, headers: [] }])
})

test('a probe never rejects, and lets go of the machine once it has its answer', async (t) => {
  const server = http.createServer((req, res) => {
    if (req.url === '/stream') res.writeHead(200).write('tick')
    else res.writeHead(200).end()
  })
  let open = 0
  server.on('connection', (sock) => {
    open++
    sock.on('close', () => open--)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  const port = (server.address() as AddressInfo).port
  const check = (o: Partial<HealthCheck>): HealthCheck => ({ type: 'http', intervalMs: 1000, timeoutMs: 1000, graceMs: 0, method: 'GET', path: '/', https: false, headers: [], ...o })
  assert.equal(await probe('127.0.0.1', port, check({ path: '/stream' })).result, null)
  await until('the streaming answer\'s connection to be closed', () => open === 0)
  assert.match((await probe('127.0.0.1', port, check({ path: '/h\u2713' })).result) ?? '', /could not be sent/)
  assert.match((await probe('127.0.0.1', port, check({ headers: [['x', 'a\x01b']] })).result) ?? '', /could not be sent/)
})
