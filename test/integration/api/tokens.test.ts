import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Hangar, attenuate, inspect } from '../../../src/sdk/index.ts'
import { mint, newTokenId } from '../../../src/auth/index.ts'
import { daemonWithBusybox, refusedWith } from '../../support/machines.ts'

/** A raw request with `token`, answering status and the JSON body. */
async function call(url: string, token: string, method: string, path: string, opts: { body?: unknown; scheme?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `${opts.scheme ?? 'Bearer'} ${token}`, 'content-type': 'application/json' },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : {} }
}

test('tokens: scoped, attenuated, expiring and revoked tokens are enforced on every /v1 route', async (t) => {
  const d = await daemonWithBusybox(t, 'web')
  await d.client.apps.create('other')
  const m1 = await d.client.machines.create('web', { skip_launch: true, config: { image: d.image } })
  const m2 = await d.client.machines.create('web', { skip_launch: true, config: { image: d.image } })
  const o1 = await d.client.machines.create('other', { skip_launch: true, config: { image: d.image } })

  await t.test('an app-scoped read-only token reads its app, and is refused elsewhere with the failing caveat named', async () => {
    const { id, token } = await d.client.tokens.create({ apps: ['web'], actions: ['read'], description: 'reader' })
    assert.match(token, /^hm1_/)
    assert.equal(inspect(token).id, id)
    const scoped = new Hangar({ baseUrl: d.url, token })
    assert.deepEqual((await scoped.machines.list('web')).map((m) => m.id).sort(), [m1.id, m2.id].sort())
    assert.deepEqual((await scoped.apps.list()).apps.map((a) => a.name), ['web'])
    const other = await call(d.url, token, 'GET', `/v1/apps/other/machines/${o1.id}`)
    assert.equal(other.status, 403)
    assert.equal(other.body.code, 'caveat_denied')
    assert.deepEqual(other.body.details, { caveat: 'apps', index: 0 })
    const post = await call(d.url, token, 'POST', `/v1/apps/web/machines/${m1.id}/stop`, { body: {} })
    assert.equal(post.status, 403)
    assert.equal((post.body.details as { caveat: string }).caveat, 'actions')
    assert.match(String(post.body.error), /actions \[read\], not write/)
    assert.equal((await call(d.url, token, 'DELETE', `/v1/apps/web/machines/${m1.id}`)).status, 403)
    assert.equal((await call(d.url, token, 'POST', '/v1/apps/web/machines', { body: { config: { image: d.image } } })).status, 403)
    assert.equal((await call(d.url, token, 'POST', '/v1/tokens', { body: {} })).status, 403)
    // A source caveat: the request's TCP peer must lie in one of its blocks.
    const lan = await call(d.url, attenuate(token, { sources: ['10.0.0.0/8'] }), 'GET', '/v1/apps/web')
    assert.equal(lan.status, 403)
    assert.equal((lan.body.details as { caveat: string }).caveat, 'source')
    assert.equal((await call(d.url, attenuate(token, { sources: ['127.0.0.0/8', '::1/128'] }), 'GET', '/v1/apps/web')).status, 200)
    // Fly's header form carries the same token.
    assert.equal((await call(d.url, token, 'GET', '/v1/apps/web', { scheme: 'FlyV1' })).status, 200)
    // Nothing the caller did not ask for happened.
    assert.equal((await d.client.machines.list('web')).length, 2)
  })

  await t.test('a minted token carries its parent\'s caveats and cannot be wider than it', async () => {
    const parent = await d.client.tokens.create({ apps: ['web'], actions: ['read', 'tokens'] })
    const p = new Hangar({ baseUrl: d.url, token: parent.token })
    await refusedWith(p.tokens.create({ apps: ['web', 'other'] }), 'caveat_denied')
    await refusedWith(p.tokens.create({ actions: ['read', 'delete'] }), 'caveat_denied')
    const child = await p.tokens.create({ machines: [m1.id], description: 'one machine' })
    assert.deepEqual(child.caveats.slice(0, 2), parent.caveats)
    assert.deepEqual(child.caveats.map((x) => x.type), ['apps', 'actions', 'machines'])
    assert.equal(child.parent_id, parent.id)
    const c = new Hangar({ baseUrl: d.url, token: child.token })
    assert.deepEqual((await c.machines.list('web')).map((m) => m.id), [m1.id])
    await c.machines.get('web', m1.id)
    const denied = await refusedWith(c.machines.get('web', m2.id), 'caveat_denied')
    assert.equal(denied.details?.caveat, 'machines')
    assert.equal((await call(d.url, child.token, 'GET', '/v1/apps/other/machines')).status, 403)
    // The parent sees itself and its child, never the secret; the root sees every token.
    const seen = await p.tokens.list()
    assert.deepEqual(seen.map((x) => x.id).sort(), [parent.id, child.id].sort())
    assert.ok(seen.every((x) => !('token' in x)))
    assert.ok((await d.client.tokens.list()).length >= 3)
    await refusedWith(c.tokens.revoke(parent.id), 'token_not_found')
  })

  await t.test('an offline attenuation narrows further, and a 1-second expiry ends it', async () => {
    const { token } = await d.client.tokens.create({ apps: ['web'] })
    const short = attenuate(token, { actions: ['read'], expires_in: 1 })
    assert.equal((await call(d.url, short, 'GET', `/v1/apps/web/machines/${m1.id}`)).status, 200)
    assert.equal((await call(d.url, short, 'POST', `/v1/apps/web/machines/${m1.id}/stop`, { body: {} })).status, 403)
    // Re-adding a wider caveat after a narrower one widens nothing.
    const rewidened = attenuate(short, { apps: ['web', 'other'], actions: ['read', 'write', 'delete'] })
    assert.equal((await call(d.url, rewidened, 'GET', '/v1/apps/other')).status, 403)
    await sleep(2100)
    const late = await call(d.url, short, 'GET', `/v1/apps/web/machines/${m1.id}`)
    assert.equal(late.status, 401)
    assert.equal(late.body.code, 'token_expired')
    assert.equal((await call(d.url, token, 'GET', '/v1/apps/web')).status, 200)
  })

  await t.test('revoking an id refuses it at once, with its attenuations and the tokens minted from it', async () => {
    const parent = await d.client.tokens.create({ actions: ['read', 'tokens'] })
    const child = await new Hangar({ baseUrl: d.url, token: parent.token }).tokens.create({ apps: ['web'] })
    const narrowed = attenuate(parent.token, { apps: ['web'] })
    for (const tk of [parent.token, child.token, narrowed]) assert.equal((await call(d.url, tk, 'GET', '/v1/apps/web')).status, 200)
    assert.deepEqual(await d.client.tokens.revoke(parent.id), { id: parent.id, revoked: 2 })
    for (const tk of [parent.token, child.token, narrowed]) {
      const r = await call(d.url, tk, 'GET', '/v1/apps/web')
      assert.equal(r.status, 401)
      assert.equal(r.body.code, 'token_revoked')
    }
    const listed = (await d.client.tokens.list()).find((x) => x.id === parent.id)
    assert.ok(listed?.revoked_at)
  })

  await t.test('a token for a deleted app is refused with a reason, and does not reach a new app given its name', async () => {
    await d.client.apps.create('gone')
    const old = await d.client.tokens.create({ apps: ['gone'], actions: ['read', 'tokens'] })
    const narrowed = attenuate(old.token, { actions: ['read'] })
    assert.equal((await call(d.url, old.token, 'GET', '/v1/apps/gone')).status, 200)
    await d.client.apps.destroy('gone')
    const deleted = await call(d.url, old.token, 'GET', '/v1/apps/gone')
    assert.equal(deleted.status, 403)
    assert.equal(deleted.body.code, 'caveat_denied')
    assert.match(String(deleted.body.error), /app gone was deleted at .*after this token was given it/)
    // Someone else takes the name: the old token (and what it minted or narrowed) reaches none of it.
    await d.client.apps.create('gone')
    await d.client.machines.create('gone', { skip_launch: true, config: { image: d.image } })
    for (const tk of [old.token, narrowed]) {
      assert.equal((await call(d.url, tk, 'GET', '/v1/apps/gone')).status, 403)
      assert.equal((await call(d.url, tk, 'GET', '/v1/apps/gone/machines')).status, 403)
    }
    assert.deepEqual((await new Hangar({ baseUrl: d.url, token: old.token }).apps.list()).apps, [])
    const minted = await call(d.url, old.token, 'POST', '/v1/tokens', { body: { apps: ['gone'] } })
    assert.equal(minted.status, 403)
    // A token given the name after the deletion is for the new app.
    const fresh = await d.client.tokens.create({ apps: ['gone'], actions: ['read'] })
    assert.equal((await call(d.url, fresh.token, 'GET', '/v1/apps/gone/machines')).status, 200)
    await d.client.apps.destroy('gone', { force: true })
  })

  await t.test('bad tokens are a 401 with a reason, never a 5xx', async () => {
    const key = Buffer.from((await readFile(join(d.dataDir, 'token-key'), 'utf8')).trim(), 'hex')
    const { token } = await d.client.tokens.create({ apps: ['web'] })
    const bytes = Buffer.from(token.slice(4), 'base64url')
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x80
    const cases: [string, string][] = [
      ['hm1_' + bytes.toString('base64url'), 'token_invalid_signature'],
      [mint(randomBytes(32), newTokenId()), 'token_invalid_signature'],
      // Signed with this daemon's key, but never issued: the id decides.
      [mint(key, newTokenId()), 'token_revoked'],
      ['hm1_%%%', 'token_malformed'],
      [token.slice(0, 40), 'token_malformed'],
      ['hgr_not-a-token', 'unauthenticated'],
    ]
    for (const [bad, code] of cases) {
      const r = await call(d.url, bad, 'GET', '/v1/apps')
      assert.equal(r.status, 401, bad)
      assert.equal(r.body.code, code, bad)
    }
    const none = await fetch(`${d.url}/v1/apps`)
    assert.equal(none.status, 401)
    // The root token (opaque, <data-dir>/root-token) still reaches everything.
    assert.equal((await call(d.url, d.token, 'GET', '/v1/apps/other')).status, 200)
  })
})
