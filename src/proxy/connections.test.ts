/**
 * concurrency.type "connections", in process (test/support/proxy-rig.ts): the
 * real proxy in front of loopback servers standing in for machines, the route
 * table's load read directly. Only 127.0.0.1.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import http2 from 'node:http2'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { closeIdleSessions } from './h2.ts'
import { freePort } from '../../test/support/net.ts'
import { client, get, h2client, openTcp, rig, until, type Rig } from '../../test/support/proxy-rig.ts'

test('two keep-alive connections bind to different machines, stay there, and free their slots when they close', async (t) => {
  const r = await rig(t, [{ id: 'm1' }, { id: 'm2' }])
  const c1 = client(t)
  const c2 = client(t)
  const first = (await get(r, c1)).body
  const other = first === 'm1' ? 'm2' : 'm1'
  // Idle between requests, the connection still holds its slot: the second connection goes to the machine under soft_limit.
  assert.equal(r.load(first), 1)
  assert.equal((await get(r, c2)).body, other)
  for (let i = 0; i < 10; i++) {
    assert.equal((await get(r, c1)).body, first, 'no re-balancing on a bound connection')
    assert.equal((await get(r, c2)).body, other)
  }
  assert.deepEqual([r.load(first), r.load(other)], [1, 1], 'counted once per connection, not per request')
  c1.destroy()
  await until('the first connection to be released', () => r.load(first) === 0)
  c2.destroy()
  await until('the second connection to be released', () => r.load(other) === 0)
  await sleep(20)
  assert.deepEqual([r.load('m1'), r.load('m2'), r.proxy.routes.machine('m1')?.holds, r.proxy.routes.machine('m2')?.holds], [0, 0, 0, 0])
})

test('type requests holds nothing between requests on an open connection', async (t) => {
  const r = await rig(t, [{ id: 'm1', service: { concurrency: { type: 'requests', soft_limit: 1 } } }])
  const c = client(t)
  const held = r.held.get('m1') as http.ServerResponse[]
  const slow = get(r, c, '/hold')
  await until('the request to reach the machine', () => held.length === 1)
  assert.equal(r.load('m1'), 1, 'a request in flight counts')
  held[0]?.end('done')
  assert.equal((await slow).body, 'done')
  await until('the request to be released', () => r.load('m1') === 0)
  assert.equal((await get(r, c)).body, 'm1')
  assert.equal(r.load('m1'), 0, 'the idle connection holds nothing')
  c.destroy()
})

test('a forced request on a bound connection goes where asked and counts while in flight; the binding stays', async (t) => {
  const r = await rig(t, [{ id: 'm1' }, { id: 'm2' }])
  const c = client(t)
  const bound = (await get(r, c, '/', { 'fly-force-instance-id': 'm1' })).body
  assert.equal(bound, 'm1', 'a named machine binds an unbound connection')
  assert.deepEqual([r.load('m1'), r.load('m2')], [1, 0])
  const held = r.held.get('m2') as http.ServerResponse[]
  const away = get(r, c, '/hold', { 'fly-force-instance-id': 'm2' })
  await until('the forced request to reach m2', () => held.length === 1)
  assert.deepEqual([r.load('m1'), r.load('m2')], [1, 1], 'the forced request is a request count on m2')
  held[0]?.end('from m2')
  assert.equal((await away).body, 'from m2')
  await until('m2 to be released', () => r.load('m2') === 0)
  assert.equal((await get(r, c)).body, 'm1', 'still bound to m1')
  // Forced to the bound machine: its own slot, not counted again.
  const own = r.held.get('m1') as http.ServerResponse[]
  const same = get(r, c, '/hold', { 'fly-force-instance-id': 'm1' })
  await until('the request to reach m1', () => own.length === 1)
  assert.equal(r.load('m1'), 1)
  own[0]?.end('ok')
  await same
  c.destroy()
  await until('m1 to be released', () => r.load('m1') === 0)
  assert.equal(r.load('m2'), 0)
})

test('a machine that stops releases its connections at once; their next request binds again', async (t) => {
  const r = await rig(t, [{ id: 'm1' }, { id: 'm2', service: { autostart: false } }])
  const c = client(t)
  // m1 first: m2 is not chosen while m1 is under soft_limit... either may win a tie, so force the first binding.
  assert.equal((await get(r, c, '/', { 'fly-force-instance-id': 'm1' })).body, 'm1')
  r.set('m1', 'stopped')
  assert.equal(r.load('m1'), 0, 'released when the machine stopped, not when the client closes')
  assert.equal((await get(r, c)).body, 'm2', 'the next request re-binds')
  assert.deepEqual([r.load('m1'), r.load('m2')], [0, 1])
  r.set('m1', 'started')
  c.destroy()
  await until('m2 to be released', () => r.load('m2') === 0)
  await sleep(20)
  assert.deepEqual([r.load('m1'), r.load('m2')], [0, 0], 'each slot released exactly once')
})

test('hard_limit counts connections: a second connection queues until the first closes', async (t) => {
  const r = await rig(t, [{ id: 'm1', service: { concurrency: { type: 'connections', soft_limit: 1, hard_limit: 1 } } }])
  const c1 = client(t)
  const c2 = client(t)
  assert.equal((await get(r, c1)).body, 'm1')
  let answered = false
  const waiting = get(r, c2).then((x) => ((answered = true), x))
  await sleep(150)
  assert.equal(answered, false, 'the idle first connection still holds the only slot')
  assert.equal(r.proxy.routes.machine('m1')?.load, 1)
  c1.destroy()
  assert.equal((await waiting).body, 'm1')
  assert.equal(r.load('m1'), 1, 'now the second connection holds it')
  for (let i = 0; i < 3; i++) assert.equal((await get(r, c2)).status, 200, 'its later requests do not queue behind its own slot')
  c2.destroy()
  await until('m1 to be released', () => r.load('m1') === 0)
})

test('h2: a session is one connection, however many streams it carries', async (t) => {
  const r = await rig(t, [{ id: 'm1' }, { id: 'm2' }])
  const { session, stream } = h2client(t, r)
  const first = await stream()
  const all = await Promise.all(Array.from({ length: 8 }, stream))
  assert.deepEqual(new Set(all), new Set([first]))
  assert.equal(r.load(first), 1)
  session.close()
  await until('the session to be released', () => r.load(first) === 0)
})

test('concurrent streams on an unbound session whose machine must wake share one slot', async (t) => {
  const r = await rig(t, [{ id: 'm1', state: 'stopped' }, { id: 'm2', state: 'stopped' }], { startMs: 50 })
  const { session, stream } = h2client(t, r)
  const all = await Promise.all(Array.from({ length: 4 }, stream))
  assert.equal(new Set(all).size, 1, `one machine: ${all.join(',')}`)
  const id = all[0] as string
  assert.equal(r.load(id), 1)
  session.close()
  await until('the slot to be released', () => r.load(id) === 0)
})

test('streams of an unbound session queued past hard_limit follow its first one instead of queueing behind its slot', async (t) => {
  const r = await rig(t, [{ id: 'm1', service: { concurrency: { type: 'connections', soft_limit: 1, hard_limit: 1 } } }])
  const c = client(t)
  assert.equal((await get(r, c)).body, 'm1')
  const { session, stream } = h2client(t, r)
  const all = Promise.all(Array.from({ length: 3 }, stream))
  await sleep(100)
  c.destroy()
  assert.deepEqual(await all, ['m1', 'm1', 'm1'])
  assert.equal(r.load('m1'), 1)
  session.close()
  await until('the slot to be released', () => r.load('m1') === 0)
})

test('an upgrade on a bound connection keeps its slot, and closing it releases it', async (t) => {
  const r = await rig(t, [{ id: 'm1' }])
  const socket = connect({ host: '127.0.0.1', port: r.port })
  t.after(() => socket.destroy())
  let got = ''
  socket.setEncoding('utf8')
  socket.on('data', (c: string) => (got += c))
  socket.write('GET / HTTP/1.1\r\nhost: a.localhost\r\n\r\n')
  await until('the first answer', () => got.includes('m1'))
  assert.equal(r.load('m1'), 1)
  socket.write('GET /ws HTTP/1.1\r\nhost: a.localhost\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n')
  await until('the 101', () => /101 Switching Protocols[\s\S]*m1\n/.test(got))
  socket.write('ping\n')
  await until('the echo', () => got.endsWith('ping\n'))
  assert.equal(r.load('m1'), 1, 'the upgrade rides the connection\'s slot')
  socket.destroy()
  await until('the slot to be released', () => r.load('m1') === 0)
  await sleep(20)
  assert.equal(r.load('m1'), 0)
})

test('autostop leaves a machine with an open idle connection alone, and stops it once the connection closes', async (t) => {
  const r = await rig(t, [{ id: 'm1', service: { autostop: 'stop' } }], { idleMs: 150 })
  const c = client(t)
  assert.equal((await get(r, c)).body, 'm1')
  await sleep(600)
  assert.deepEqual(r.stops, [], 'the open connection is load')
  c.destroy()
  await until('autostop', () => r.stops.length === 1)
  assert.equal(r.load('m1'), 0)
})

test('one request per connection balances across machines as before', async (t) => {
  const r = await rig(t, [{ id: 'm1' }, { id: 'm2' }])
  const seen = new Set<string>()
  for (let i = 0; i < 40 && seen.size < 2; i++) seen.add((await get(r, false)).body)
  assert.deepEqual([...seen].sort(), ['m1', 'm2'])
  await until('every slot to be released', () => r.load('m1') === 0 && r.load('m2') === 0)
})

test('an h2 session with no open stream is closed after the idle time; one with a stream open is not', async (t) => {
  const server = http2.createServer((req, res) => {
    if (req.url === '/hold') setTimeout(() => res.end('late'), 300)
    else res.end('ok')
  })
  closeIdleSessions(server, 100)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => server.close())
  const port = (server.address() as AddressInfo).port
  const session = http2.connect(`http://127.0.0.1:${port}`)
  t.after(() => session.destroy())
  const request = (path: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':path': path })
      let body = ''
      s.setEncoding('utf8')
      s.on('data', (c: string) => (body += c))
      s.on('end', () => resolve(body))
      s.on('error', reject)
    })
  let goaway = false
  session.on('goaway', () => (goaway = true))
  assert.equal(await request('/hold'), 'late', 'a stream open past the idle time is not cut')
  assert.equal(goaway, false)
  assert.equal(await request('/'), 'ok')
  await until('the idle session to be closed', () => goaway && session.closed, 1000)
})

test('a queued request whose client hangs up leaves the queue at once', async (t) => {
  const r = await rig(t, [{ id: 'm1', service: { concurrency: { type: 'requests', soft_limit: 1, hard_limit: 1 } } }])
  const holding = get(r, false, '/hold')
  await until('the first request to hold m1', () => r.held.get('m1')!.length === 1)
  const quitter = connect(r.port, '127.0.0.1')
  quitter.on('error', () => {})
  quitter.write('GET / HTTP/1.1\r\nHost: a.localhost\r\n\r\n')
  await until('the second request to queue', () => r.proxy.queued('a') === 1)
  quitter.destroy()
  await until('the queue to empty', () => r.proxy.queued('a') === 0, 500)
  assert.equal(r.load('m1'), 1, 'only the holding request counts')
  r.held.get('m1')!.pop()!.end('m1')
  assert.equal((await holding).body, 'm1')
  assert.equal((await get(r, false)).body, 'm1')
  await until('m1 to be released', () => r.load('m1') === 0)
})

test('one client connection carrying two apps\' hosts holds one binding per app; neither follows the other\'s', async (t) => {
  const r = await rig(t, [{ id: 'm1' }, { id: 'n1', app: 'b' }])
  const c = client(t)
  assert.equal((await get(r, c)).body, 'm1')
  assert.equal((await get(r, c, '/', { host: 'b.localhost' })).body, 'n1')
  assert.equal((await get(r, c)).body, 'm1')
  assert.equal((await get(r, c, '/', { host: 'b.localhost' })).body, 'n1')
  assert.equal(r.load('m1'), 1)
  assert.equal(r.load('n1'), 1)
  c.destroy()
  await until('both slots to be released', () => r.load('m1') === 0 && r.load('n1') === 0)
})

test('a client that leaves while its replay target wakes leaves no load behind on either machine', async (t) => {
  const r = await rig(t, [{ id: 'm1' }, { id: 'm2', state: 'stopped' }], { startMs: 300 })
  const quitter = connect(r.port, '127.0.0.1')
  quitter.on('error', () => {})
  quitter.write('GET /replay/m2 HTTP/1.1\r\nHost: a.localhost\r\n\r\n')
  await until('m2 to be starting', () => r.proxy.routes.machine('m2')?.state === 'starting')
  await sleep(100)
  quitter.destroy()
  await until('m2 to be started', () => r.proxy.routes.machine('m2')?.state === 'started')
  await until('the replay target to release its count', () => r.load('m2') === 0)
  await sleep(100)
  assert.equal(r.load('m2'), 0, 'and it stays released')
  assert.equal(r.load('m1'), 0)
})

test('raw TCP past hard_limit waits in the queue (paused, bytes kept) and gets through when the first connection closes', async (t) => {
  const port = await freePort()
  const tcp = { ports: [{ port }], concurrency: { type: 'connections', soft_limit: 1, hard_limit: 1 } }
  const r = await rig(t, [{ id: 'm1', service: tcp }])
  const open = (): Promise<Socket> => openTcp(port)
  const ask = (s: Socket): Promise<string> =>
    new Promise((resolve) => {
      let got = ''
      s.on('data', (c) => (got += String(c)))
      s.write('GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n')
      s.once('close', () => resolve(got))
    })
  const first = await open()
  await until('the first connection to hold m1', () => r.tcp('m1', port) === 1)
  const second = await open()
  await until('the second connection to queue', () => r.proxy.queued('a') === 1)
  // Its request is sent while it waits: the bytes stay in the socket until a slot frees.
  const answer = ask(second)
  await sleep(100)
  assert.equal(r.proxy.queued('a'), 1, 'still waiting while the first connection is open')
  first.destroy()
  assert.match(await answer, /\r\n\r\nm1$/)
  await until('m1 to be released', () => r.tcp('m1', port) === 0)
  assert.equal(r.load('m1'), 0, 'raw TCP never counted against the HTTP service')
})

test('each service counts its own load: open raw TCP connections do not fill the HTTP service, and HTTP requests do not fill the TCP one', async (t) => {
  const port = await freePort()
  const r = await rig(t, [{ id: 'm1', service: { concurrency: { type: 'requests', soft_limit: 1, hard_limit: 1 } }, more: [{ ports: [{ port }], concurrency: { type: 'connections', hard_limit: 1 } }] }])
  const s = await openTcp(port)
  await until('the TCP connection to be counted', () => r.tcp('m1', port) === 1)
  assert.equal(r.load('m1'), 0, 'the HTTP service has nothing in flight')
  // hard_limit 1 on HTTP with a TCP connection open: an HTTP request still gets straight through.
  const held = get(r, false, '/hold')
  await until('the HTTP request to reach m1', () => (r.held.get('m1')?.length ?? 0) === 1)
  assert.deepEqual([r.load('m1'), r.tcp('m1', port), r.proxy.queued('a')], [1, 1, 0])
  r.held.get('m1')!.shift()!.end('done')
  assert.equal((await held).status, 200)
  // And the TCP service's hard_limit 1 is full with its one connection, whatever HTTP does: a second one queues.
  await handOver(r, s, () => openTcp(port), () => r.tcp('m1', port))
  assert.equal(r.load('m1'), 0)
})

test('a TCP service counts its connections over all its ports against one hard_limit', async (t) => {
  const [p1, p2] = [await freePort(), await freePort()]
  const r = await rig(t, [{ id: 'm1', service: { ports: [{ port: p1 }, { port: p2 }], concurrency: { type: 'connections', hard_limit: 1 } } }])
  const first = await openTcp(p1)
  await until('the first connection to be counted', () => r.tcp('m1', p1) === 1)
  await handOver(r, first, () => openTcp(p2), () => r.tcp('m1', p1))
})

/** A second raw TCP connection queues behind `first`, takes its slot when `first` closes, and leaves the count at 0 when it closes too. */
async function handOver(r: Rig, first: Socket, open: () => Promise<Socket>, count: () => number): Promise<void> {
  const second = await open()
  await until('the second connection to queue', () => r.proxy.queued('a') === 1)
  first.destroy()
  await until('the queued connection to take the slot', () => r.proxy.queued('a') === 0 && count() === 1)
  second.destroy()
  await until('the slot to be released', () => count() === 0)
}
