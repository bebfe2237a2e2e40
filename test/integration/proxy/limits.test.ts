/**
 * Past concurrency.hard_limit requests wait in the app's queue (bounded length
 * and wait) instead of failing at once. The daemon runs with a 3 s wake
 * timeout, which is also the longest a request waits in the queue.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, viaProxy, webMachine } from './support.ts'

process.env.HANGAR_WAKE_TIMEOUT = '3s'

test('hard_limit queues requests, bounded in length and wait', async (t) => {
  const d = await daemonWithBusybox(t)
  const services = httpServices({ concurrency: { type: 'requests', soft_limit: 1, hard_limit: 1 } })
  await webMachine(d, {
    services,
    cgi: {
      slow: 'echo "Content-Type: text/plain"; echo; sleep 1; echo done',
      slower: 'echo "Content-Type: text/plain"; echo; sleep 2; echo done',
    },
  })

  await t.test('requests past the hard limit wait their turn and are all answered, one at a time', async () => {
    const t0 = Date.now()
    const all = await Promise.all([0, 1, 2].map(() => viaProxy(d, d.app, '/cgi-bin/slow')))
    assert.deepEqual(all.map((r) => r.status), [200, 200, 200])
    assert.ok(Date.now() - t0 >= 2800, `serialised by hard_limit 1: ${Date.now() - t0} ms`)
  })

  await t.test('a full queue is a 503 at once; a wait past the timeout a 503 saying so', async () => {
    const all = await Promise.all(Array.from({ length: 103 }, () => viaProxy(d, d.app, '/cgi-bin/slower')))
    const ok = all.filter((r) => r.status === 200)
    const full = all.filter((r) => r.status === 503 && /already queued/.test(r.body))
    const late = all.filter((r) => r.status === 503 && /waited 3000 ms in app testapp's queue/.test(r.body))
    assert.equal(ok.length, 2, 'the one in flight and the first queued')
    assert.equal(full.length, 2, 'over the 100-request bound')
    assert.equal(late.length, 99)
    for (const r of [...full, ...late]) {
      assert.match(r.body, /hard_limit/)
      assert.match(r.body, /request id: [0-9A-Z]{26}-local/)
    }
    // And the app serves normally afterwards.
    assert.equal((await viaProxy(d, d.app, '/cgi-bin/slow')).status, 200)
  })
})
