/** /v2 with scoped tokens: pull and push per repository, a repository belonging to the app its first name component names. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { attenuate, inspect } from '../../../src/sdk/index.ts'
import { mint, newTokenId } from '../../../src/auth/index.ts'
import { startDaemon } from '../../support/daemon.ts'
import { busyboxConfig, tarBytes } from '../../support/images.ts'

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`
const oci = 'application/vnd.oci.image.manifest.v1+json'

function as(url: string, authorization: string) {
  return (path: string, init: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<Response> =>
    fetch(new URL(path, url), { ...init, headers: { authorization, ...init.headers }, ...(init.body ? { duplex: 'half' } : {}) } as RequestInit)
}

/** Pushes a one-layer image as `name:tag`; answers the manifest PUT's status (and the first refused step's). */
async function push(reg: ReturnType<typeof as>, name: string, tag: string): Promise<number> {
  const layer = tarBytes([{ path: `${name.replace(/\//g, '-')}.txt`, body: `${name}\n` }])
  const config = Buffer.from(JSON.stringify(busyboxConfig([sha(layer)])))
  for (const blob of [layer, config]) {
    const res = await reg(`/v2/${name}/blobs/uploads/?digest=${sha(blob)}`, { method: 'POST', body: blob })
    await res.arrayBuffer()
    if (res.status !== 201) return res.status
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: oci,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
  }))
  const res = await reg(`/v2/${name}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': oci } })
  await res.arrayBuffer()
  return res.status
}

test('/v2: an app-scoped token pushes and pulls only under its app\'s names; the token flow keeps the caveats', async (t) => {
  const d = await startDaemon(t)
  const root = as(d.url, `Bearer ${d.token}`)
  assert.equal(await push(root, 'other/base', 'v1'), 201)

  const { id, token } = await d.client.tokens.create({ apps: ['web'], actions: ['images'] })
  const web = as(d.url, `Bearer ${token}`)
  assert.equal(await push(web, 'web/api', 'v1'), 201)
  assert.equal(await push(web, 'web', 'v1'), 201)
  const denied = await web('/v2/other/base/blobs/uploads/', { method: 'POST' })
  assert.equal(denied.status, 403)
  assert.equal(await push(web, 'other/evil', 'v1'), 403)
  assert.equal(await push(web, 'debian', 'latest'), 403)
  const pull = await web('/v2/other/base/manifests/v1')
  assert.equal(pull.status, 403)
  const body = (await pull.json()) as { errors: { code: string; message: string }[] }
  assert.equal(body.errors[0]?.code, 'DENIED')
  assert.match(body.errors[0]?.message ?? '', /apps caveat/)
  assert.equal((await web('/v2/web/api/manifests/v1')).status, 200)
  assert.deepEqual(((await (await web('/v2/_catalog')).json()) as { repositories: string[] }).repositories, ['web', 'web/api'])
  assert.deepEqual(((await (await root('/v2/_catalog')).json()) as { repositories: string[] }).repositories, ['other/base', 'web', 'web/api'])

  // A token without the images action may log in but neither pull nor push.
  const reader = await d.client.tokens.create({ apps: ['web'], actions: ['read'] })
  const r = as(d.url, `Bearer ${reader.token}`)
  assert.equal((await r('/v2/')).status, 200)
  assert.equal((await r('/v2/web/api/manifests/v1')).status, 403)
  assert.equal(await push(r, 'web/api', 'v2'), 403)

  // A machines caveat names no repository: images belong to no machine. A source caveat; a forged and an expired token.
  const oneMachine = await d.client.tokens.create({ machines: ['m-1'], actions: ['images'] })
  assert.equal((await as(d.url, `Bearer ${oneMachine.token}`)('/v2/web/api/manifests/v1')).status, 403)
  assert.equal((await as(d.url, `Bearer ${attenuate(token, { sources: ['10.0.0.0/8'] })}`)('/v2/web/api/manifests/v1')).status, 403)
  assert.equal((await as(d.url, `Bearer ${attenuate(token, { sources: ['127.0.0.0/8', '::1/128'] })}`)('/v2/web/api/manifests/v1')).status, 200)
  const forged = mint(Buffer.alloc(32), newTokenId())
  assert.equal((await as(d.url, `Bearer ${forged}`)('/v2/web/api/manifests/v1')).status, 401)
  const short = attenuate(token, { expires_in: 1 })
  assert.equal((await as(d.url, `Bearer ${short}`)('/v2/web/api/manifests/v1')).status, 200)
  await new Promise((r) => setTimeout(r, 2100))
  assert.equal((await as(d.url, `Bearer ${short}`)('/v2/web/api/manifests/v1')).status, 401)

  // Docker's token flow hands back the macaroon narrowed to five minutes: same id, same caveats, still refused elsewhere.
  const basic = `Basic ${Buffer.from(`robot:${token}`).toString('base64')}`
  const issued = (await (await fetch(`${d.url}/v2/token`, { headers: { authorization: basic } })).json()) as { token: string; expires_in: number }
  const info = inspect(issued.token)
  assert.equal(info.id, id)
  assert.deepEqual(info.caveats.map((c) => c.type), ['apps', 'actions', 'validity'])
  const viaFlow = as(d.url, `Bearer ${issued.token}`)
  assert.equal((await viaFlow('/v2/web/api/manifests/v1')).status, 200)
  assert.equal((await viaFlow('/v2/other/base/manifests/v1')).status, 403)

  // Revoked: every form of the token is refused at once.
  await d.client.tokens.revoke(id)
  for (const reg of [web, viaFlow, as(d.url, basic)]) assert.equal((await reg('/v2/web/api/manifests/v1')).status, 401)
})
