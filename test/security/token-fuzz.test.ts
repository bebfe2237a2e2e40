import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isHangarError } from '../../src/errors.ts'
import { openStore } from '../../src/store/index.ts'
import { tokensService, type Caller } from '../../src/platform/tokens.ts'
import { attenuate } from '../../src/auth/index.ts'
import { startDaemon } from '../support/daemon.ts'
import { mutatedTokens } from '../support/token-mutations.ts'

const root: Caller = { id: 'root', name: 'root', kind: 'opaque', caveats: [] }

test('fuzz: 10 000 mutated tokens, 0 accepted, and every refusal is a typed 401', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hangar-token-fuzz-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const tokens = tokensService(openStore({ path: join(dir, 'hangar.db') }), randomBytes(32))
  const a = tokens.create(root, { apps: ['web'], actions: ['read'] }).token
  const b = tokens.create(root, { machines: ['m1', 'm2'], expires_in: 3600 }).token
  const valid = [a, b, attenuate(a, [{ type: 'source', cidrs: ['127.0.0.0/8'] }]), tokens.create(root, {}).token]
  for (const v of valid) tokens.authenticate(`Bearer ${v}`)
  const seen = new Set(valid)
  const outcomes = new Map<string, number>()
  let accepted = 0
  for (const { kind, token } of mutatedTokens(valid, 10_000, 0x15)) {
    // A splice can rebuild a token it was cut from; that one is genuine, not accepted by mistake.
    if (seen.has(token)) continue
    try {
      tokens.authenticate(`Bearer ${token}`)
      accepted++
      assert.fail(`${kind} mutation accepted: ${token}`)
    } catch (e) {
      assert.ok(isHangarError(e), `${kind}: threw ${String(e)} for ${token}`)
      assert.equal(e.status, 401, `${kind}: ${e.code} for ${token}`)
      outcomes.set(e.code, (outcomes.get(e.code) ?? 0) + 1)
    }
  }
  assert.equal(accepted, 0)
  t.diagnostic(JSON.stringify(Object.fromEntries(outcomes)))
  assert.ok((outcomes.get('token_invalid_signature') ?? 0) > 1000, 'the signature, not only the parser, is what refuses many mutations')
})

test('fuzz over HTTP: 10 000 mutated tokens against a real daemon, 0 accepted, 0 5xx', async (t) => {
  const d = await startDaemon(t)
  await d.client.apps.create('web')
  const a = (await d.client.tokens.create({ apps: ['web'], actions: ['read'] })).token
  const b = (await d.client.tokens.create({ expires_in: 3600 })).token
  const valid = [a, b, attenuate(b, [{ type: 'apps', apps: ['web'] }])]
  const seen = new Set(valid)
  const statuses = new Map<number, number>()
  const queue = [...mutatedTokens(valid, 10_000, 0x2a)].filter((m) => !seen.has(m.token))
  const worker = async (): Promise<void> => {
    for (let m = queue.pop(); m; m = queue.pop()) {
      const res = await fetch(`${d.url}/v1/apps/web`, { headers: { authorization: `Bearer ${m.token}` } }).catch((e: unknown) => {
        throw new Error(`${m.kind} (${JSON.stringify(m.token)}): ${String(e)}`)
      })
      const body = (await res.json()) as { code?: string }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      assert.ok(res.status === 401, `${m.kind}: ${res.status} ${body.code} for ${JSON.stringify(m.token)}`)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  t.diagnostic(JSON.stringify(Object.fromEntries(statuses)))
})
