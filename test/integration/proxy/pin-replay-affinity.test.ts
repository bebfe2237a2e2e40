/**
 * Routing control across two machines of one app: fly-force-instance-id pins,
 * a machine's fly-replay answer sends the request (body included) to another,
 * and a response's Mcp-Session-Id keeps later requests on the same machine.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, viaProxy, webMachine } from './support.ts'

// Replays to the instance named in the query (or elsewhere=true); a replayed request echoes what it got.
const replay = `echo "Content-Type: text/plain"
if [ -n "$HTTP_FLY_REPLAY_SRC" ]; then
  echo; echo "id=$FLY_MACHINE_ID"; echo "src=$HTTP_FLY_REPLAY_SRC"
  [ -n "$CONTENT_LENGTH" ] && head -c "$CONTENT_LENGTH"
else
  case "$QUERY_STRING" in
    elsewhere) echo "fly-replay: elsewhere=true" ;;
    *) echo "fly-replay: instance=$QUERY_STRING;state=s1" ;;
  esac
  echo; echo "not replayed by $FLY_MACHINE_ID"
fi`
// A raw responder (nc runs it per connection) that reads the whole body before answering with a replay:
// busybox httpd closes on a CGI that exits early, which would cut the upload short.
const drain = `len=0
while read -r line; do
  [ \${#line} -le 1 ] && break
  case "$line" in [Cc]ontent-[Ll]ength:*) v=\${line#*:}; len=$((\${v%?})) ;; esac
done
head -c "$len" > /dev/null
printf 'HTTP/1.1 200 OK\\r\\nfly-replay: instance=%s\\r\\ncontent-length: 0\\r\\nconnection: close\\r\\n\\r\\n' "$FLY_MACHINE_ID"`
const session = 'echo "Content-Type: text/plain"; echo "Mcp-Session-Id: s-$FLY_MACHINE_ID-$$"; echo; echo "$FLY_MACHINE_ID"'

test('fly-force-instance-id, fly-replay and Mcp-Session-Id affinity across two machines', async (t) => {
  const d = await daemonWithBusybox(t)
  const services = httpServices()
  const a = await webMachine(d, { services, cgi: { replay, session } })
  const b = await webMachine(d, { services, cgi: { replay, session } })
  const idOf = async (headers: Record<string, string>): Promise<string> => (await viaProxy(d, d.app, '/id', { headers })).body.trim()

  await t.test('without pinning both machines get traffic', async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 30 && seen.size < 2; i++) seen.add(await idOf({}))
    assert.deepEqual([...seen].sort(), [a.id, b.id].sort())
  })

  await t.test('fly-force-instance-id pins every request to that machine', async () => {
    for (const m of [a, b]) for (let i = 0; i < 8; i++) assert.equal(await idOf({ 'fly-force-instance-id': m.id }), m.id)
  })

  await t.test('an unknown forced instance is a 503 naming it', async () => {
    const res = await viaProxy(d, d.app, '/', { headers: { 'fly-force-instance-id': '0123456789abcd' } })
    assert.equal(res.status, 503)
    assert.match(res.body, /0123456789abcd is not a machine of app testapp/)
  })

  await t.test('a forced instance that is stopped is started', async () => {
    await d.client.machines.stop(d.app, b.id)
    await d.client.machines.wait(d.app, b.id, { state: ['stopped'] })
    assert.equal(await idOf({ 'fly-force-instance-id': b.id }), b.id)
    assert.equal((await d.client.machines.get(d.app, b.id)).state, 'started')
  })

  await t.test('fly-replay: instance= re-sends the request, body and all, with fly-replay-src', async () => {
    const res = await viaProxy(d, d.app, `/cgi-bin/replay?${b.id}`, { method: 'POST', body: 'payload-123', headers: { 'fly-force-instance-id': a.id, 'content-type': 'text/plain' } })
    assert.equal(res.status, 200)
    assert.equal(res.headers['fly-replay'], undefined, 'the replay header stays between machine and proxy')
    assert.match(res.body, new RegExp(`^id=${b.id}$`, 'm'))
    assert.match(res.body, new RegExp(`^src=instance=${a.id};region=local;t=\\d+;state=s1$`, 'm'))
    assert.match(res.body, /payload-123$/)
  })

  await t.test('fly-replay: elsewhere=true goes to another machine', async () => {
    const res = await viaProxy(d, d.app, '/cgi-bin/replay?elsewhere', { headers: { 'fly-force-instance-id': a.id } })
    assert.equal(res.status, 200)
    assert.match(res.body, new RegExp(`^id=${b.id}$`, 'm'))
  })

  await t.test('a body over 1 MB cannot be replayed: 502 saying so', async () => {
    await d.client.apps.create('drain')
    await webMachine(d, { app: 'drain', services, exec: ['nc', '-ll', '-p', '8080', '-e', '/www/cgi-bin/drain'], cgi: { drain } })
    const small = await viaProxy(d, 'drain', '/', { method: 'POST', body: 'x'.repeat(1000) })
    assert.equal(small.status, 502, 'a replay to itself loops, and the proxy gives up')
    assert.match(small.body, /replayed 3 times/)
    const res = await viaProxy(d, 'drain', '/', { method: 'POST', body: Buffer.alloc((1 << 20) + 1000, 97) })
    assert.equal(res.status, 502)
    assert.match(res.body, /over 1 MB/)
  })

  await t.test('Mcp-Session-Id sticks to the machine that issued it, and wakes it if stopped', async () => {
    const first = await viaProxy(d, d.app, '/cgi-bin/session')
    const sid = String(first.headers['mcp-session-id'])
    const owner = first.body.trim()
    assert.match(sid, new RegExp(`^s-${owner}-`))
    for (let i = 0; i < 12; i++) assert.equal(await idOf({ 'mcp-session-id': sid }), owner)
    await d.client.machines.stop(d.app, owner)
    await d.client.machines.wait(d.app, owner, { state: ['stopped'] })
    assert.equal(await idOf({ 'mcp-session-id': sid }), owner)
    assert.equal((await d.client.machines.get(d.app, owner)).state, 'started')
  })
})
