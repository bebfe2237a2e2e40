import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { isHangarError } from '../errors.ts'
import { attenuate, checkCaveats, decodeMacaroon, mint, newTokenId, verifyMacaroon, type Access, type Caveat } from './index.ts'

const key = randomBytes(32)
const now = Math.floor(Date.now() / 1000)
const req = (a: Partial<Access>): Access => ({ action: 'read', now, source: '127.0.0.1', ...a })

/** The code of the HangarError `fn` throws (and fails the test if it throws anything else). */
function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    assert.ok(isHangarError(e), `threw a non-Hangar error: ${String(e)}`)
    return e.code
  }
  return 'accepted'
}

/** Whether the verified token allows the request. */
const allows = (token: string, a: Partial<Access>): boolean => checkCaveats(verifyMacaroon(key, token).caveats, req(a)) === null

test('a minted token verifies with its key and keeps its id and caveats in order', () => {
  const id = newTokenId()
  const caveats: Caveat[] = [{ type: 'apps', apps: ['web'] }, { type: 'actions', actions: ['read', 'write'] }]
  const m = verifyMacaroon(key, mint(key, id, caveats))
  assert.equal(m.id, id)
  assert.deepEqual(m.caveats, caveats)
})

test('attenuation appends caveats offline, keeps the id, and the result verifies', () => {
  const token = mint(key, newTokenId(), [{ type: 'apps', apps: ['web', 'api'] }])
  const narrower = attenuate(token, [{ type: 'actions', actions: ['read'] }])
  assert.equal(decodeMacaroon(narrower).id, decodeMacaroon(token).id)
  assert.equal(verifyMacaroon(key, narrower).caveats.length, 2)
  assert.ok(allows(token, { app: 'api', action: 'write' }))
  assert.ok(!allows(narrower, { app: 'api', action: 'write' }))
  assert.ok(allows(narrower, { app: 'api', action: 'read' }))
})

test('attenuation never widens: a later caveat naming more apps or actions still leaves the first in force', () => {
  const token = mint(key, newTokenId(), [{ type: 'apps', apps: ['web'] }, { type: 'actions', actions: ['read'] }])
  const wider = attenuate(token, [{ type: 'apps', apps: ['web', 'db'] }, { type: 'actions', actions: [...['read', 'write', 'delete', 'tokens'] as const] }])
  assert.ok(!allows(wider, { app: 'db' }))
  assert.ok(!allows(wider, { app: 'web', action: 'delete' }))
  assert.ok(allows(wider, { app: 'web', action: 'read' }))
})

test('dropping the last caveat (the old tail is not known) or reordering caveats breaks the signature', () => {
  const token = mint(key, newTokenId(), [{ type: 'apps', apps: ['web'] }, { type: 'actions', actions: ['read'] }])
  const m = decodeMacaroon(token)
  const rebuilt = (records: Buffer[]): string => {
    const framed = records.map((r) => Buffer.concat([Buffer.from([r.length >> 8, r.length & 255]), r]))
    return 'hm1_' + Buffer.concat([Buffer.from(m.id, 'hex'), ...framed, m.tail]).toString('base64url')
  }
  assert.equal(codeOf(() => verifyMacaroon(key, rebuilt([m.records[0] as Buffer]))), 'token_invalid_signature')
  assert.equal(codeOf(() => verifyMacaroon(key, rebuilt([m.records[1] as Buffer, m.records[0] as Buffer]))), 'token_invalid_signature')
  assert.equal(codeOf(() => verifyMacaroon(key, rebuilt([]))), 'token_invalid_signature')
})

test('a token is refused under another key, tampered, truncated, or with garbage appended', () => {
  const token = mint(key, newTokenId(), [{ type: 'apps', apps: ['web'] }])
  assert.equal(codeOf(() => verifyMacaroon(randomBytes(32), token)), 'token_invalid_signature')
  const bytes = Buffer.from(token.slice(4), 'base64url')
  bytes[20] = (bytes[20] as number) ^ 1
  assert.match(codeOf(() => verifyMacaroon(key, 'hm1_' + bytes.toString('base64url'))), /^token_(malformed|invalid_signature)$/)
  assert.equal(codeOf(() => verifyMacaroon(key, token.slice(0, -5))), 'token_malformed')
  assert.equal(codeOf(() => verifyMacaroon(key, token.slice(0, 30))), 'token_malformed')
  assert.match(codeOf(() => verifyMacaroon(key, token + 'AAAA')), /^token_(malformed|invalid_signature)$/)
  assert.equal(codeOf(() => verifyMacaroon(key, 'hgr_' + token.slice(4))), 'token_malformed')
  assert.equal(codeOf(() => verifyMacaroon(key, token + '=')), 'token_malformed')
  assert.equal(codeOf(() => verifyMacaroon(key, '')), 'token_malformed')
})

test('a caveat the verifier does not know makes the token malformed rather than ignored', () => {
  const token = mint(key, newTokenId())
  const m = decodeMacaroon(token)
  const rec = Buffer.from(JSON.stringify({ type: 'apps', apps: ['web'], also: 'everything' }))
  const framed = Buffer.concat([Buffer.from([0, rec.length]), rec])
  const forged = 'hm1_' + Buffer.concat([Buffer.from(m.id, 'hex'), framed, m.tail]).toString('base64url')
  assert.equal(codeOf(() => decodeMacaroon(forged)), 'token_malformed')
  assert.equal(codeOf(() => attenuate(token, [{ type: 'bogus' } as unknown as Caveat])), 'invalid_argument')
})

test('validity: expired and not-yet-valid tokens are refused as expired; inside the window they pass', () => {
  const expired = mint(key, newTokenId(), [{ type: 'validity', not_after: now - 1 }])
  const early = mint(key, newTokenId(), [{ type: 'validity', not_before: now + 60 }])
  const current = mint(key, newTokenId(), [{ type: 'validity', not_before: now - 60, not_after: now + 60 }])
  for (const t of [expired, early]) {
    const d = checkCaveats(verifyMacaroon(key, t).caveats, req({ app: 'web' }))
    assert.equal(d?.caveat, 'validity')
    assert.equal(d?.expired, true)
  }
  assert.ok(allows(current, { app: 'web' }))
})

test('contradicting caveats allow nothing', () => {
  const t = mint(key, newTokenId(), [{ type: 'apps', apps: ['a'] }, { type: 'apps', apps: ['b'] }, { type: 'validity', not_before: now + 10, not_after: now - 10 }])
  const window = mint(key, newTokenId(), [{ type: 'validity', not_before: now + 10, not_after: now - 10 }])
  for (const app of ['a', 'b']) assert.ok(!allows(t, { app }))
  assert.ok(!allows(window, { app: 'a' }))
  const noActions = mint(key, newTokenId(), [{ type: 'actions', actions: [] }])
  assert.ok(!allows(noActions, { app: 'a' }))
})

test('machines and source caveats; lists pass the caveat on what they list, and nothing else', () => {
  const t = mint(key, newTokenId(), [{ type: 'apps', apps: ['web'] }, { type: 'machines', machines: ['m1'] }, { type: 'source', cidrs: ['127.0.0.0/8', '::1/128'] }])
  assert.ok(allows(t, { app: 'web', machine: 'm1' }))
  assert.ok(allows(t, { app: 'web', machine: 'm1', source: '::ffff:127.0.0.5' }))
  assert.ok(allows(t, { app: 'web', machine: 'm1', source: '::1' }))
  assert.equal(checkCaveats(verifyMacaroon(key, t).caveats, req({ app: 'web', machine: 'm1', source: '10.0.0.1' }))?.caveat, 'source')
  assert.equal(checkCaveats(verifyMacaroon(key, t).caveats, req({ app: 'web', machine: 'm2' }))?.caveat, 'machines')
  assert.equal(checkCaveats(verifyMacaroon(key, t).caveats, req({ app: 'web' }))?.caveat, 'machines')
  assert.ok(allows(t, { app: 'web', listing: 'machines' }))
  assert.ok(allows(t, { listing: 'apps' }))
  assert.equal(checkCaveats(verifyMacaroon(key, t).caveats, req({ listing: 'machines' }))?.caveat, 'apps')
  assert.equal(checkCaveats(verifyMacaroon(key, t).caveats, req({ app: 'web', machine: 'm1', source: undefined }))?.caveat, 'source')
  assert.ok(allows(t, { action: 'tokens', about: 'tokens' }))
  assert.equal(checkCaveats(verifyMacaroon(key, t).caveats, req({ action: 'tokens', about: 'tokens', source: '10.1.1.1' }))?.caveat, 'source')
})

test('an apps caveat stops at a deletion of its app made after it: a new app given the name is not the token\'s', () => {
  const t = mint(key, newTokenId(), [{ type: 'apps', apps: ['web'], as_of: now - 100 }])
  const caveats = verifyMacaroon(key, t).caveats
  assert.ok(allows(t, { app: 'web' }), 'never deleted')
  assert.ok(allows(t, { app: 'web', appDeletedAt: now - 200 }), 'deleted before the token named it: the app of that name now is the one meant')
  const d = checkCaveats(caveats, req({ app: 'web', appDeletedAt: now - 50 }))
  assert.equal(d?.caveat, 'apps')
  assert.equal(d?.expired, false)
  assert.match(d?.reason ?? '', /was deleted at .* after this token was given it/)
  // Without as_of (tokens from before it), the token's issue time dates the caveat; unknown means the beginning of time.
  const undated: Caveat[] = [{ type: 'apps', apps: ['web'] }]
  assert.equal(checkCaveats(undated, req({ app: 'web', appDeletedAt: now - 50, issuedAt: now - 100 }))?.caveat, 'apps')
  assert.equal(checkCaveats(undated, req({ app: 'web', appDeletedAt: now - 50, issuedAt: now - 10 })), null)
  assert.equal(checkCaveats(undated, req({ app: 'web', appDeletedAt: 1 }))?.caveat, 'apps')
  // A later caveat dated after the deletion widens nothing: the first still refuses.
  const rewidened = attenuate(t, [{ type: 'apps', apps: ['web'], as_of: now }])
  assert.ok(!allows(rewidened, { app: 'web', appDeletedAt: now - 50 }))
})
