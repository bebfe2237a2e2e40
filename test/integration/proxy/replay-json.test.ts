/**
 * The JSON form of fly-replay (application/vnd.fly.replay+json) with its
 * transform, and fallback=prefer_self|force_self sending an undeliverable
 * replay back to the origin marked fly-replay-failed.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, viaProxy, webMachine } from './support.ts'

const json = (body: string): string => `echo "Content-Type: application/vnd.fly.replay+json"; echo; printf '%s' ${body}`
const cgi = {
  // ?<id>: replay there with a transform.
  jr: json(`"{\\"instance\\":\\"$QUERY_STRING\\",\\"state\\":\\"j1\\",\\"transform\\":{\\"path\\":\\"/cgi-bin/echo?moved\\",\\"delete_headers\\":[\\"x-secret\\"],\\"set_headers\\":[{\\"name\\":\\"x-added\\",\\"value\\":\\"yes\\"}]}}"`),
  jbad: json(`"not json"`),
  jfb: `if [ -n "$HTTP_FLY_REPLAY_FAILED" ]; then echo "Content-Type: text/plain"; echo; echo "fallback=$FLY_MACHINE_ID"; echo "failed=$HTTP_FLY_REPLAY_FAILED"; head -c "$CONTENT_LENGTH"
else ${json(`'{"instance":"0123456789abcd","fallback":"prefer_self"}'`)}; fi`,
  hfs: `echo "Content-Type: text/plain"
if [ -n "$HTTP_FLY_REPLAY_FAILED" ]; then echo; echo "fallback=$FLY_MACHINE_ID"; echo "failed=$HTTP_FLY_REPLAY_FAILED"
else echo "fly-replay: instance=0123456789abcd;fallback=force_self"; echo; echo "not replayed"; fi`,
  echo: 'echo "Content-Type: text/plain"; echo; echo "id=$FLY_MACHINE_ID"; echo "q=$QUERY_STRING"; echo "secret=$HTTP_X_SECRET"; echo "added=$HTTP_X_ADDED"; echo "src=$HTTP_FLY_REPLAY_SRC"; [ -n "$CONTENT_LENGTH" ] && head -c "$CONTENT_LENGTH"',
}

test('fly-replay JSON form, transform and fallback', async (t) => {
  const d = await daemonWithBusybox(t)
  const services = httpServices()
  const a = await webMachine(d, { services, cgi })
  const b = await webMachine(d, { services, cgi })
  const pin = { 'fly-force-instance-id': a.id }

  await t.test('a JSON directive replays with its transform: path, deleted and set headers', async () => {
    const res = await viaProxy(d, d.app, `/cgi-bin/jr?${b.id}`, { method: 'POST', body: 'body-42', headers: { ...pin, 'x-secret': 's3', 'content-type': 'text/plain' } })
    assert.equal(res.status, 200, res.body)
    assert.match(res.body, new RegExp(`^id=${b.id}$`, 'm'))
    assert.match(res.body, /^q=moved$/m)
    assert.match(res.body, /^secret=$/m)
    assert.match(res.body, /^added=yes$/m)
    assert.match(res.body, new RegExp(`^src=instance=${a.id};region=local;t=\\d+;state=j1$`, 'm'))
    assert.match(res.body, /body-42$/)
  })

  await t.test('an invalid JSON directive is a 502 saying so', async () => {
    const res = await viaProxy(d, d.app, '/cgi-bin/jbad', { headers: pin })
    assert.equal(res.status, 502)
    assert.match(res.body, /invalid fly-replay JSON body/)
  })

  await t.test('fallback=prefer_self: an undeliverable replay goes back to the origin with fly-replay-failed', async () => {
    const res = await viaProxy(d, d.app, '/cgi-bin/jfb', { method: 'POST', body: 'again', headers: { ...pin, 'content-type': 'text/plain' } })
    assert.equal(res.status, 200, res.body)
    assert.match(res.body, new RegExp(`^fallback=${a.id}$`, 'm'))
    assert.match(res.body, /^failed=instance=0123456789abcd;reason=no_candidate;elapsed_ms=\d+$/m)
    assert.match(res.body, /again$/)
  })

  await t.test('fallback=force_self in the header form', async () => {
    const res = await viaProxy(d, d.app, '/cgi-bin/hfs', { headers: pin })
    assert.equal(res.status, 200, res.body)
    assert.match(res.body, new RegExp(`^fallback=${a.id}$`, 'm'))
    assert.match(res.body, /reason=no_candidate/)
  })
})
