import { test } from 'node:test'
import assert from 'node:assert/strict'
import { choose, pinned } from './balance.ts'
import { httpService, type Route } from './route-table.ts'
import { parseReplay } from './replay.ts'
import { appFromHost } from './target.ts'

const svc = (o: Record<string, unknown> = {}) => httpService({ services: [{ internal_port: 8080, ports: [{ handlers: ['http'] }], concurrency: { soft_limit: 2, hard_limit: 3 }, ...o }] })
function route(id: string, state: string, load = 0, o: Record<string, unknown> = {}): Route {
  return { id, app: 'a', state, host: '10.0.0.1', service: svc(o), load, tcpOpen: new Map(), holds: 0, health: null, epoch: 0, lastActive: 0, draining: false, version: 'v' }
}

test('the least loaded started machine under its soft limit wins; ties go either way', () => {
  const got = choose('a', [route('x', 'started', 1), route('y', 'started', 0), route('z', 'stopped')])
  assert.deepEqual([got.kind, 'route' in got && got.route.id], ['route', 'y'])
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const c = choose('a', [route('x', 'started'), route('y', 'started')])
    if (c.kind === 'route') seen.add(c.route.id)
  }
  assert.deepEqual([...seen].sort(), ['x', 'y'])
})

test('all over soft limit wakes a stopped machine; with none to wake, over soft but under hard is used; at hard, full (queue)', () => {
  assert.equal(choose('a', [route('x', 'started', 2), route('z', 'stopped')]).kind, 'wake')
  assert.equal(choose('a', [route('x', 'started', 2)]).kind, 'route')
  const full = choose('a', [route('x', 'started', 3)])
  assert.equal(full.kind, 'full')
  assert.match(full.kind === 'full' ? full.reason : '', /hard_limit/)
})

test('autostart false never wakes; a draining machine is not routed to; exclude skips the source', () => {
  assert.equal(choose('a', [route('z', 'stopped', 0, { autostart: false })]).kind, 'unavailable')
  const draining = route('x', 'started')
  draining.draining = true
  assert.equal(choose('a', [draining]).kind, 'wake')
  assert.equal(choose('a', [route('x', 'started')], 'x').kind, 'unavailable')
  assert.equal(pinned(route('z', 'stopped')).kind, 'wake')
})

test('services: first http handler, Fly defaults, autostop spellings, no services means 8080 and no autostart', () => {
  assert.deepEqual(httpService({}), { port: 8080, type: 'connections', autostart: false, autostop: 'off', minMachinesRunning: 0, softLimit: 20, hardLimit: Infinity, stickyCookie: null, checks: [] })
  const s = httpService({ services: [{ internal_port: 9000 }, { internal_port: 3000, ports: [{ handlers: ['tls', 'http'] }], autostop: true }] })
  assert.deepEqual([s.port, s.autostart, s.autostop], [3000, true, 'stop'])
  assert.equal(httpService({ services: [{ internal_port: 1, autostop: 'suspend' }] }).autostop, 'suspend')
})

test('fly-replay values and hosts parse', () => {
  assert.deepEqual(parseReplay('instance=abc;state="a;b";elsewhere=true'), { instance: 'abc', state: 'a;b', elsewhere: true })
  assert.deepEqual(parseReplay('region=sjc, app=other'), { region: 'sjc, app=other' })
  assert.deepEqual(parseReplay('app=other'), { app: 'other' })
  assert.equal(appFromHost('MyApp.localhost:4281', 'localhost'), 'myapp')
  assert.equal(appFromHost('a.b.localhost', 'localhost'), null)
  assert.equal(appFromHost('localhost', 'localhost'), null)
})

test('the JSON form of fly-replay parses and is validated', async () => {
  const { parseReplayJson } = await import('./replay.ts')
  assert.deepEqual(parseReplayJson({ instance: 'abc', state: 's', fallback: 'prefer_self', transform: { path: '/x?y=1', delete_headers: ['x-a'], set_headers: [{ name: 'x-b', value: '1' }] } }), {
    instance: 'abc', state: 's', fallback: 'prefer_self', transform: { path: '/x?y=1', delete_headers: ['x-a'], set_headers: [{ name: 'x-b', value: '1' }] },
  })
  assert.deepEqual(parseReplay('instance=abc;fallback=force_self'), { instance: 'abc', fallback: 'force_self' })
  assert.throws(() => parseReplayJson([]), /object/)
  assert.throws(() => parseReplayJson({ transform: { path: 'x' } }), /path/)
  assert.throws(() => parseReplayJson({ transform: { set_headers: [{ name: 'a b', value: '' }] } }), /set_headers/)
  assert.throws(() => parseReplayJson({ transform: { set_headers: [{ name: 'a', value: 'x\r\nb: y' }] } }), /set_headers/)
  assert.throws(() => parseReplayJson({ fallback: 'other' }), /fallback/)
})

test("without services, the image's first exposed port is the service port", () => {
  assert.equal(httpService({}, { exposed_ports: ['3000/tcp', '9000/tcp'] }).port, 3000)
  assert.equal(httpService({}, { exposed_ports: [] }).port, 8080)
  assert.equal(httpService({ services: [{ internal_port: 5000, ports: [{ handlers: ['http'] }] }] }, { exposed_ports: ['3000/tcp'] }).port, 5000)
})

test('concurrency.type: connections unless the service says requests (Fly\'s default)', () => {
  assert.equal(httpService({ services: [{ internal_port: 1, concurrency: { type: 'requests' } }] }).type, 'requests')
  assert.equal(httpService({ services: [{ internal_port: 1, concurrency: { type: 'connections', soft_limit: 3 } }] }).type, 'connections')
  assert.equal(httpService({ services: [{ internal_port: 1 }] }).type, 'connections')
})

test('a connection slot is one unit of load, released once; a machine that stops releases them all at once', async () => {
  const { RouteTable } = await import('./route-table.ts')
  const row = { id: 'm', app_name: 'a', name: 'm', state: 'started', region: 'local', instance_id: 'v', config: {}, image_ref: {}, private_ip: '10.0.0.1', private_ip6: null, restart_count: 0, secrets_version: 0, created_at: '', updated_at: '' }
  let feed: ((c: { machine: typeof row }) => void) | undefined
  const noop = async (): Promise<void> => {}
  const table = new RouteTable({ events: { subscribe: (fn) => ((feed = fn), () => {}) }, machines: { allLive: () => [row], start: noop, stop: noop, suspend: noop }, apps: { get: () => ({}) } })
  const r = table.machine('m') as Route
  table.acquire(r)
  const epoch = table.hold(r)
  table.acquire(r) // a request in flight beside the held connection
  assert.deepEqual([r.load, r.holds], [2, 1])
  table.unhold(r, epoch)
  assert.deepEqual([r.load, r.holds], [1, 0])
  table.acquire(r)
  const second = table.hold(r)
  feed?.({ machine: { ...row, state: 'stopping' } })
  assert.deepEqual([r.load, r.holds], [1, 0], 'the held connection went with the machine; the request is released by its own end')
  table.unhold(r, second)
  assert.equal(r.load, 1, 'a slot released with the machine is not released again')
  table.release(r)
  assert.equal(r.load, 0)
})
