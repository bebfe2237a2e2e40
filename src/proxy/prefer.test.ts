/** fly-prefer-instance-id and fly-replay prefer_instance, in process (test/support/proxy-rig.ts). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type http from 'node:http'
import { get, rig } from '../../test/support/proxy-rig.ts'

/** Answers with its id and the fly-preferred-instance-unavailable it was sent, if any; m1 replays /replay-prefer/<id>. */
const tell = (id: string) => (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
  if (id === 'm1' && req.url?.startsWith('/replay-prefer/')) res.writeHead(200, { 'fly-replay': `prefer_instance=${req.url.slice(15)};elsewhere=true` }).end()
  else res.end(`${id} ${req.headers['fly-preferred-instance-unavailable'] ?? '-'}`)
  return true
}

test('fly-prefer-instance-id: the machine when it can take the request, else another one that is told which was unavailable', async (t) => {
  const limits = { concurrency: { type: 'requests', soft_limit: 1, hard_limit: 1 } }
  const r = await rig(t, [
    { id: 'm1', handler: tell('m1'), service: limits },
    { id: 'm2', handler: (req, res) => (req.url === '/hold' ? false : tell('m2')(req, res)), service: limits },
  ])
  const body = async (path: string, headers: Record<string, string>): Promise<string> => (await get(r, false, path, headers)).body
  for (let i = 0; i < 3; i++) assert.equal(await body('/', { 'fly-prefer-instance-id': 'm2' }), 'm2 -')
  assert.match(await body('/', { 'fly-prefer-instance-id': 'gone' }), /^m[12] gone$/, 'an unknown machine: balanced, and said so')
  // m2 at its hard_limit (one request held open): the preference is passed over rather than queued.
  const held = get(r, false, '/hold', { 'fly-force-instance-id': 'm2' })
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(await body('/', { 'fly-prefer-instance-id': 'm2' }), 'm1 m2')
  r.held.get('m2')!.shift()!.end('done')
  await held
  // A client cannot send the header itself.
  assert.equal(await body('/', { 'fly-prefer-instance-id': 'm1', 'fly-preferred-instance-unavailable': 'x' }), 'm1 -')
  // The replay form: prefer_instance of a machine that is not there lands elsewhere (here: not on m1), with the header.
  assert.equal(await body('/replay-prefer/nope', { 'fly-force-instance-id': 'm1' }), 'm2 nope')
})
