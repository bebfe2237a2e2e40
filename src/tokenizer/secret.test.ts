import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { isHangarError } from '../errors.ts'
import { parseSecret, redact } from './secret.ts'

const digest = createHash('sha256').update('trustno1').digest('base64')

test('secrets as Go\'s encoding/json writes them parse (field order, omitempty, base64 []byte)', () => {
  // What superfly/tokenizer's Secret.MarshalJSON produces: processor, then auth, then host rules.
  const s = parseSecret(`{"inject_processor":{"token":"tok","fmt":"token=%s","dst":"X-Stripe-Token"},"bearer_auth":{"digest":"${digest}"},"allowed_hosts":["api.stripe.com"]}`)
  assert.equal(s.processor.type, 'inject_processor')
  assert.deepEqual(s.processor.type === 'inject_processor' && [s.processor.token, s.processor.fmt, s.processor.dst, s.processor.allowedDst], ['tok', 'token=%s', 'X-Stripe-Token', null])
  assert.equal(s.auth.type === 'bearer_auth' && s.auth.digest?.toString('base64'), digest)
  assert.deepEqual(s.allowedHosts, ['api.stripe.com'])
  const hmac = parseSecret(`{"inject_hmac_processor":{"key":"${Buffer.from('k3y').toString('base64')}","hash":"sha256"},"no_auth":{},"allowed_host_pattern":".*\\\\.example\\\\.com$"}`)
  assert.equal(hmac.processor.type === 'inject_hmac_processor' && hmac.processor.key?.toString(), 'k3y')
  assert.equal(hmac.allowedHostPattern, '.*\\.example\\.com$')
  const multi = parseSecret('{"multi_processor":[{"inject_processor":{"token":"a"}},{"oauth2_processor":{"token":{"access_token":"b"}}}],"no_auth":{}}')
  assert.deepEqual(multi.processor.type === 'multi_processor' && multi.processor.processors.map((p) => p.type), ['inject_processor', 'oauth2_processor'])
  const sig = parseSecret('{"sigv4_processor":{"access_key":"AK","secret_key":"SK","no_swap":true},"no_auth":{}}')
  assert.deepEqual(sig.processor, { type: 'sigv4_processor', accessKey: 'AK', secretKey: 'SK', noSwap: true })
})

test('as in Go: unknown keys are ignored, null is absent, keys match case-insensitively, an empty allowed_hosts allows nothing', () => {
  const s = parseSecret('{"Inject_Processor":{"Token":"t","future_field":1},"no_auth":{},"bearer_auth":null,"comment":"x","allowed_hosts":[]}')
  assert.equal(s.processor.type === 'inject_processor' && s.processor.token, 't')
  assert.equal(s.auth.type, 'no_auth')
  assert.deepEqual(s.allowedHosts, [])
})

test('a secret without exactly one processor and one auth, or with a field of the wrong type, is tokenizer_bad_secret naming the field and never the value', () => {
  const bad = [
    '{"no_auth":{}}',
    '{"inject_processor":{"token":"a"},"oauth2_processor":{"token":{}},"no_auth":{}}',
    '{"inject_processor":{"token":"a"}}',
    '{"inject_processor":{"token":"a"},"no_auth":{},"bearer_auth":{"digest":""}}',
    '{"inject_processor":{"token":42},"no_auth":{}}',
    '{"inject_hmac_processor":{"key":"SECRET-not-base64!"},"no_auth":{}}',
    '{"inject_processor":{"token":"a"},"no_auth":{},"allowed_hosts":"api.example.com"}',
    '{"multi_processor":{"inject_processor":{}},"no_auth":{}}',
    '[1]',
    'not json SECRET',
  ]
  for (const json of bad) {
    assert.throws(() => parseSecret(json), (e: unknown) => isHangarError(e) && e.code === 'tokenizer_bad_secret' && !e.message.includes('SECRET') && e.status === 400, json)
  }
  assert.throws(() => parseSecret('{"inject_processor":{"token":42},"no_auth":{}}'), /inject_processor\.token must be a string/)
})

test('redact keeps types and rules and drops the credential and the digest', () => {
  const s = parseSecret(`{"multi_processor":[{"inject_processor":{"token":"sk_live_XYZ","dst":"X-Key"}},{"inject_body_processor":{"token":"sk_body_XYZ"}}],"bearer_auth":{"digest":"${digest}"},"allowed_hosts":["a.example"]}`)
  const text = JSON.stringify(redact(s))
  assert.ok(!text.includes('XYZ') && !text.includes(digest), text)
  assert.deepEqual(redact(s), {
    processor: { type: 'multi_processor', processors: [{ type: 'inject_processor', dst: 'X-Key' }, { type: 'inject_body_processor' }] },
    auth: 'bearer_auth',
    allowed_hosts: ['a.example'],
  })
})
