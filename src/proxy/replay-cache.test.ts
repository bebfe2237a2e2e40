import { test } from 'node:test'
import assert from 'node:assert/strict'
import type http from 'node:http'
import { connect } from 'node:net'
import { ReplayCache, cacheFromHeaders, cacheHost, cachePath } from './replay-cache.ts'
import { parseReplayJson } from './replay.ts'
import { get, rig } from '../../test/support/proxy-rig.ts'

const origin = { id: 'm1', app: 'a' }

test('an entry covers its host and path prefix, longest prefix first, until its TTL runs out', () => {
  const c = new ReplayCache()
  assert.equal(c.apply({ prefix: '/docs/*', ttl: 10 }, 'a.localhost', '/docs/x', { app: 'b' }, origin, 0), undefined)
  assert.equal(c.apply({ prefix: 'a.localhost/docs/deep/*', ttl: 20 }, 'a.localhost', '/docs/deep/y', { instance: 'm9', app: 'b' }, origin, 0), undefined)
  assert.deepEqual(c.lookup('a.localhost', '/docs/z', 5_000)?.directive, { app: 'b' })
  assert.deepEqual(c.lookup('a.localhost', '/docs/deep/q', 5_000)?.directive, { instance: 'm9', app: 'b' })
  assert.equal(c.lookup('a.localhost', '/doc', 5_000), undefined, 'the prefix keeps its slash')
  assert.equal(c.lookup('b.localhost', '/docs/z', 5_000), undefined, 'another host has its own entries')
  assert.equal(c.lookup('a.localhost', '/docs/z', 10_000), undefined, 'expired')
  assert.deepEqual(c.lookup('a.localhost', '/docs/deep/q', 10_000)?.directive, { instance: 'm9', app: 'b' })
  c.invalidate('a.localhost', '/docs/deep/q')
  assert.equal(c.size, 0)
})

test('cache requests Fly refuses are refused with the reason, and nothing is kept', () => {
  const c = new ReplayCache()
  const why = (req: Parameters<ReplayCache['apply']>[0], directive = {}): string | undefined => c.apply(req, 'a.localhost', '/docs/x', directive, origin)
  assert.match(why({ prefix: '/docs/*', ttl: 9 }) ?? '', /at least 10/)
  assert.match(why({ prefix: '/docs/*', ttl: Number.NaN }) ?? '', /whole number/)
  assert.match(why({ prefix: '/docs', ttl: 10 }) ?? '', /ending in \/\*/)
  assert.match(why({ prefix: '/other/*', ttl: 10 }) ?? '', /does not match this request/)
  assert.match(why({ prefix: 'b.localhost/docs/*', ttl: 10 }) ?? '', /does not match/)
  assert.match(why({ prefix: 'a.localhost:8080/docs/*', ttl: 10 }) ?? '', /port/)
  assert.match(why({ prefix: '/docs/*', ttl: 10 }, { state: 's' }) ?? '', /state/)
  assert.match(why({ prefix: '/docs/*', ttl: 10 }, { transform: { path: '/y' } }) ?? '', /transform/)
  assert.match(why({ prefix: '/docs/*', ttl: 10 }, { app: 'x'.repeat(200) }) ?? '', /at most 128/)
  assert.equal(c.size, 0)
  // A TTL past a day is cut to a day.
  assert.equal(c.apply({ prefix: '/docs/*', ttl: 1e12 }, 'a.localhost', '/docs/x', { app: 'b' }, origin, 0), undefined)
  assert.equal(c.lookup('a.localhost', '/docs/x', 86_400_000 - 1)?.directive.app, 'b')
  assert.equal(c.lookup('a.localhost', '/docs/x', 86_400_000), undefined)
})

test('the header and JSON forms of a cache request; hosts and paths as the cache keys them', () => {
  assert.deepEqual(cacheFromHeaders({ 'fly-replay-cache': '/p/*', 'fly-replay-cache-ttl-secs': '60', 'fly-replay-cache-allow-bypass': 'yes' }), { prefix: '/p/*', ttl: 60, allowBypass: true })
  assert.deepEqual(cacheFromHeaders({ 'fly-replay-cache': 'invalidate' }), { invalidate: true })
  assert.equal(cacheFromHeaders({}), undefined)
  assert.deepEqual(parseReplayJson({ app: 'b', cache: { prefix: '/p/*', ttl: 60 }, allow_bypass: true }).cache, { prefix: '/p/*', ttl: 60, allowBypass: true })
  assert.deepEqual(parseReplayJson({ app: 'a', cache: { invalidate: true } }).cache, { invalidate: true })
  assert.throws(() => parseReplayJson({ cache: { ttl: '60' } }), /cache.ttl/)
  assert.equal(cacheHost('A.Localhost:4281'), 'a.localhost')
  assert.equal(cacheHost('[::1]:80'), '[::1]')
  assert.equal(cachePath('/docs/x?q=1'), '/docs/x')
})

/** What a replay target saw: its id, the cache status header, and whether fly-replay-src came along. */
const report = (id: string) => (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
  res.end(`${id} ${req.headers['fly-replay-cache-status'] ?? '-'} ${req.headers['fly-replay-src'] ? 'src' : 'nosrc'}`)
  return true
}

test('through the proxy: the first request is replayed by its app and cached; later ones go straight to the target until it invalidates', async (t) => {
  const asked: string[] = []
  let pinGone = false
  const r = await rig(t, [
    {
      id: 'm1',
      handler: (req, res) => {
        const url = req.url ?? ''
        asked.push(url)
        const cache = (prefix: string, more: Record<string, string> = {}): Record<string, string> => ({ 'fly-replay-cache': prefix, 'fly-replay-cache-ttl-secs': '30', ...more })
        if (url.startsWith('/docs/') && url !== '/docs/invalidate') res.writeHead(200, { 'fly-replay': 'app=b;instance=m2', ...cache('/docs/*') }).end()
        else if (url.startsWith('/skip/')) res.writeHead(200, { 'fly-replay': 'app=b;instance=m2', ...cache('a.localhost/skip/*', { 'fly-replay-cache-allow-bypass': 'yes' }) }).end()
        else if (url.startsWith('/pin/') && !pinGone) res.writeHead(200, { 'fly-replay': 'app=b;instance=m3', ...cache('/pin/*') }).end()
        else if (url === '/claim') report('m1')(req, res)
        else return false
        return true
      },
    },
    {
      id: 'm2',
      app: 'b',
      handler: (req, res) => {
        if (req.url === '/docs/invalidate') res.writeHead(200, { 'fly-replay': 'app=a', 'fly-replay-cache': 'invalidate' }).end()
        else if (req.url === '/docs/die') req.socket.destroy()
        else report('m2')(req, res)
        return true
      },
    },
    { id: 'm3', app: 'b', handler: report('m3') },
  ])
  const body = async (path: string, headers: Record<string, string> = {}): Promise<string> => (await get(r, false, path, headers)).body

  assert.equal(await body('/docs/one'), 'm2 miss src')
  assert.equal(await body('/docs/two?x=1'), 'm2 hit nosrc', 'served from the cache: no fly-replay-src')
  assert.equal(await body('/docs/three', { 'fly-replay-cache-control': 'skip' }), 'm2 hit nosrc', 'the app did not allow a bypass')
  assert.equal(await body('/other'), 'm1', 'outside the prefix the app answers')
  assert.deepEqual(asked, ['/docs/one', '/other'])
  assert.equal(await body('/docs/four', { 'fly-force-instance-id': 'm1' }), 'm2 miss src', 'a forced machine is asked, whatever the cache says')

  // The target replays back with fly-replay-cache: invalidate; the app is asked again from then on.
  asked.length = 0
  assert.equal(await body('/docs/invalidate'), 'm1')
  assert.equal(await body('/docs/five'), 'm2 miss src')
  assert.deepEqual(asked, ['/docs/invalidate', '/docs/five'])

  // A hit whose target does not answer is a 502, and drops the entry: the next request asks the app.
  asked.length = 0
  assert.equal((await get(r, false, '/docs/die')).status, 502)
  assert.equal(await body('/docs/six'), 'm2 miss src')
  assert.deepEqual(asked, ['/docs/six'])

  // A bypass the app allowed: the client's skip reaches the app, and the target is told so.
  asked.length = 0
  assert.equal(await body('/skip/a'), 'm2 miss src')
  assert.equal(await body('/skip/b'), 'm2 hit nosrc')
  assert.equal(await body('/skip/c', { 'fly-replay-cache-control': 'skip' }), 'm2 bypass src')
  assert.deepEqual(asked, ['/skip/a', '/skip/c'])

  // A cached target that is gone: the entry is dropped and the app asked again.
  asked.length = 0
  assert.equal(await body('/pin/a'), 'm3 miss src')
  assert.equal(await body('/pin/b'), 'm3 hit nosrc')
  r.set('m3', 'destroyed')
  pinGone = true
  assert.equal(await body('/pin/c'), 'm1')
  assert.deepEqual(asked, ['/pin/a', '/pin/c'])

  // A client cannot claim a cache hit of its own.
  assert.equal(await body('/claim', { 'fly-replay-cache-status': 'hit' }), 'm1 - nosrc')
})

test('a request with two Host headers is refused with a 400 before routing or the cache see it', async (t) => {
  const r = await rig(t, [{ id: 'm1' }])
  const answer = await new Promise<string>((resolve, reject) => {
    const sock = connect(r.port, '127.0.0.1', () => sock.end('GET / HTTP/1.1\r\nHost: a.localhost\r\nHost: b.localhost\r\nConnection: close\r\n\r\n'))
    let got = ''
    sock.on('data', (c) => (got += String(c)))
    sock.on('end', () => resolve(got))
    sock.on('error', reject)
  })
  assert.match(answer, /^HTTP\/1\.1 400 /)
  assert.match(answer, /more than one Host header/)
})
