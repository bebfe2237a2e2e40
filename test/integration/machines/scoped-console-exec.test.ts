/**
 * Console (HTTP Upgrade) and exec with scoped tokens: each needs the exec action on the machine's
 * app and the machine itself, from an allowed source, with a token still valid and not revoked.
 * Refusals are 403 naming the caveat; a token no longer good is 401.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Hangar, attenuate } from '../../../src/sdk/index.ts'
import { isHangarError } from '../../../src/errors.ts'
import { daemonWithBusybox } from '../../support/machines.ts'

test('console and exec check every caveat of the token', async (t) => {
  const d = await daemonWithBusybox(t, 'web')
  await d.client.apps.create('other')
  const m = await d.client.machines.create('web', { config: { image: d.image } })
  const m2 = await d.client.machines.create('web', { skip_launch: true, config: { image: d.image } })
  const as = (token: string): Hangar => new Hangar({ baseUrl: d.url, token })

  /** What a console running `echo` printed, or the refusal's code and message. */
  const consoleWith = async (token: string, id: string): Promise<string> => {
    try {
      const s = await as(token).machines.console('web', id, { cmd: ['sh', '-c', 'echo hi-$((40+2))'] })
      let out = ''
      s.on('data', (b: Buffer) => (out += b.toString()))
      await Promise.race([new Promise((r) => s.once('close', r)), sleep(10_000)])
      return out
    } catch (e) {
      assert.ok(isHangarError(e), String(e))
      return `${e.code} (${e.status}): ${e.message}`
    }
  }
  /** What exec of `hostname` printed, or the refusal's code, status and message. */
  const execWith = async (token: string, id: string): Promise<string> => {
    const res = await fetch(`${d.url}/v1/apps/web/machines/${id}/exec`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ command: ['hostname'] }),
    })
    const body = (await res.json()) as { stdout?: string; code?: string; error?: string; details?: { caveat: string } }
    return res.status === 200 ? String(body.stdout).trim() : `${body.code} (${res.status}): ${body.error} [${body.details?.caveat ?? ''}]`
  }

  const one = await d.client.tokens.create({ machines: [m.id], actions: ['exec'] })
  await t.test('a token for this machine with the exec action opens a console and runs commands', async () => {
    assert.match(await consoleWith(one.token, m.id), /hi-42/)
    assert.equal(await execWith(one.token, m.id), m.id)
  })

  await t.test('the actions, machines, apps and source caveats each refuse with 403, named', async () => {
    const reader = await d.client.tokens.create({ apps: ['web'], actions: ['read'] })
    const elsewhere = await d.client.tokens.create({ apps: ['other'] })
    const fromLan = attenuate(one.token, { sources: ['10.0.0.0/8'] })
    const cases: [string, string, string][] = [[reader.token, m.id, 'actions'], [one.token, m2.id, 'machines'], [elsewhere.token, m.id, 'apps'], [fromLan, m.id, 'source']]
    for (const [token, id, caveat] of cases) {
      assert.match(await consoleWith(token, id), new RegExp(`^caveat_denied \\(403\\): .*${caveat} caveat`), caveat)
      assert.match(await execWith(token, id), new RegExp(`^caveat_denied \\(403\\): .*\\[${caveat}\\]$`), caveat)
    }
  })

  await t.test('an expired, tampered or revoked token is a 401 on both', async () => {
    const short = attenuate(one.token, { expires_in: 1 })
    const bytes = Buffer.from(one.token.slice(4), 'base64url')
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
    const tampered = 'hm1_' + bytes.toString('base64url')
    assert.match(await consoleWith(tampered, m.id), /^token_invalid_signature \(401\)/)
    assert.match(await execWith(tampered, m.id), /^token_invalid_signature \(401\)/)
    await sleep(2100)
    assert.match(await consoleWith(short, m.id), /^token_expired \(401\)/)
    assert.match(await execWith(short, m.id), /^token_expired \(401\)/)
    await d.client.tokens.revoke(one.id)
    assert.match(await consoleWith(one.token, m.id), /^token_revoked \(401\)/)
    assert.match(await execWith(one.token, m.id), /^token_revoked \(401\)/)
  })
})
