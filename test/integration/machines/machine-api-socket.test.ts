/**
 * The Machines API from inside a machine, as Fly offers it: /.fly/api, a Unix socket reaching the
 * daemon's /v1 routes as the machine itself (its own app only, no images or tokens), with no token
 * anywhere in the machine. A static client (fixtures/unix-http.c) calls it from a real machine.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { daemonWithBusybox } from '../../support/machines.ts'
import { useTmpDir } from '../../support/images.ts'
import type { TestContext } from 'node:test'

const run = promisify(execFile)

/** The client, built static so it runs in any image. */
async function unixHttp(t: TestContext): Promise<Buffer> {
  const out = join(await useTmpDir(t), 'unix-http')
  await run('cc', ['-static', '-O2', '-o', out, new URL('../../support/fixtures/unix-http.c', import.meta.url).pathname])
  return readFile(out)
}

test('a machine reaches the Machines API for its own app at /.fly/api, and nothing else', async (t) => {
  const d = await daemonWithBusybox(t, 'web')
  await d.client.apps.create('other')
  const m = await d.client.machines.create('web', { config: { image: d.image } })
  const sibling = await d.client.machines.create('web', { config: { image: d.image } })
  const o = await d.client.machines.create('other', { skip_launch: true, config: { image: d.image } })
  await d.client.machines.fs.write('web', m.id, '/bin/unix-http', await unixHttp(t), { mode: '0755' })

  /** A request from inside the machine: status and JSON body. */
  const call = async (method: string, path: string, body = '', auth?: string): Promise<{ status: number; body: Record<string, unknown> & { code?: string } }> => {
    const r = await d.client.machines.exec('web', m.id, { command: ['/bin/unix-http', '/.fly/api', method, path, body, ...(auth ? [auth] : [])] })
    assert.equal(r.exit_code, 0, r.stderr)
    const [head = '', text = ''] = r.stdout.split('\r\n\r\n')
    return { status: Number(/^HTTP\/1\.\d (\d{3})/.exec(head)?.[1]), body: text ? JSON.parse(text) : {} }
  }

  await t.test('it lists and reads its own app, checkpoints itself, and runs commands in a sibling', async () => {
    const list = await call('GET', '/v1/apps/web/machines')
    assert.equal(list.status, 200)
    assert.deepEqual((list.body as unknown as { id: string }[]).map((x) => x.id).sort(), [m.id, sibling.id].sort())
    assert.equal((await call('GET', `/v1/apps/web/machines/${m.id}`)).status, 200)
    const cp = await call('POST', `/v1/apps/web/machines/${m.id}/checkpoint`, '{"comment":"from inside"}')
    assert.equal(cp.status, 200, JSON.stringify(cp.body))
    assert.equal((await d.client.machines.checkpoints('web', m.id)).at(-1)?.comment, 'from inside')
    const exec = await call('POST', `/v1/apps/web/machines/${sibling.id}/exec`, JSON.stringify({ command: ['hostname'] }))
    assert.equal(exec.status, 200, JSON.stringify(exec.body))
    assert.equal(String(exec.body.stdout).trim(), sibling.id)
    const apps = await call('GET', '/v1/apps')
    assert.deepEqual((apps.body.apps as { name: string }[]).map((a) => a.name), ['web'])
  })

  await t.test('another app, images, tokens and other surfaces are refused, naming the caveat', async () => {
    const other = await call('GET', `/v1/apps/other/machines/${o.id}`)
    assert.equal(other.status, 403)
    assert.equal(other.body.code, 'caveat_denied')
    assert.deepEqual(other.body.details, { caveat: 'apps', index: 0 })
    assert.equal((await call('DELETE', `/v1/apps/other/machines/${o.id}?force=true`)).status, 403)
    assert.equal((await call('GET', '/v1/images')).status, 403)
    const tokens = await call('POST', '/v1/tokens', '{}')
    assert.equal(tokens.status, 403)
    assert.equal((tokens.body.details as { caveat: string }).caveat, 'actions')
    // The root token in a header changes nothing: on the socket the caller is the machine.
    const withRoot = await call('GET', `/v1/apps/other/machines/${o.id}`, '', `Bearer ${d.token}`)
    assert.equal(withRoot.status, 403)
    for (const path of ['/v2/_catalog', '/mcp', '/healthz']) assert.equal((await call('GET', path)).status, 404, path)
    assert.equal((await d.client.machines.get('other', o.id)).state, 'created')
  })

  await t.test('the socket is read-only inside, and on the host only root can reach it', async () => {
    const rm = await d.client.machines.exec('web', m.id, { command: ['sh', '-c', 'rm /.fly/api; touch /.fly/x; ls -l /.fly/'] })
    assert.match(rm.stderr, /Read-only file system/)
    assert.match(rm.stdout, /^s.*api$/m)
    const env = await d.client.machines.exec('web', m.id, { command: ['env'] })
    assert.doesNotMatch(env.stdout, /hm1_|hgr_/, 'no token in the machine\'s environment')
    const dir = join('/run/hangar', (await readdirTag(d.dataDir)), 'api')
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    assert.equal(statSync(join(dir, m.id, 'api')).mode & 0o777, 0o666)
  })

  await t.test('after a daemon restart the running machine reaches its API again', async () => {
    await d.shutdown()
    await d.restart()
    assert.equal((await call('GET', `/v1/apps/web/machines/${m.id}`)).status, 200)
  })

  await t.test('destroying the machine removes its socket directory', async () => {
    const dir = join('/run/hangar', await readdirTag(d.dataDir), 'api', sibling.id)
    assert.ok(existsSync(join(dir, 'api')))
    await d.client.machines.destroy('web', sibling.id, { force: true })
    assert.ok(!existsSync(dir))
  })
})

/** The runtime's /run/hangar/<tag> for a data dir (runtime/runc/layout.ts: a hash of its state dir). */
async function readdirTag(dataDir: string): Promise<string> {
  const { createHash } = await import('node:crypto')
  return createHash('sha256').update(join(dataDir, 'runtime')).digest('hex').slice(0, 12)
}
