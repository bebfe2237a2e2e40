import { test } from 'node:test'
import assert from 'node:assert/strict'
import sodium from 'libsodium-wrappers'
import { isHangarError } from '../errors.ts'
import { loadKeys, seal } from './keys.ts'

const refusedAs = (code: string) => (e: unknown): boolean => isHangarError(e) && e.code === code

test('the seal key is the X25519 public key of the open key (RFC 7748 test vector, as Go\'s curve25519 computes it)', async () => {
  const keys = await loadKeys('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
  assert.equal(keys.sealKey, '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
})

test('seal then open gives the secret back', async () => {
  const keys = await loadKeys('11'.repeat(32))
  const json = '{"inject_processor":{"token":"sk_live_123"},"no_auth":{}}'
  const sealed = await seal(json, keys.sealKey)
  assert.match(sealed, /^[A-Za-z0-9+/]+=*$/)
  assert.equal(keys.open(sealed).toString(), json)
  // Anonymous boxes: every seal of the same secret differs.
  assert.notEqual(await seal(json, keys.sealKey), sealed)
})

test('a box built by hand as Go\'s nacl/box.SealAnonymous lays it out opens: ephemeral pk ‖ box, nonce = BLAKE2b-24(epk ‖ pk)', async () => {
  await sodium.ready
  const keys = await loadKeys('22'.repeat(32))
  const pk = Buffer.from(keys.sealKey, 'hex')
  const eph = sodium.crypto_box_keypair()
  const nonce = sodium.crypto_generichash(24, Buffer.concat([eph.publicKey, pk]), null)
  const msg = Buffer.from('{"oauth2_processor":{"token":{"access_token":"a","refresh_token":"r"}},"no_auth":{}}')
  const box = sodium.crypto_box_easy(msg, nonce, pk, eph.privateKey)
  const sealed = Buffer.concat([eph.publicKey, box]).toString('base64')
  assert.deepEqual(keys.open(sealed), msg)
})

test('a tampered, truncated, foreign or non-base64 seal is refused as tokenizer_bad_seal, without the plaintext', async () => {
  const keys = await loadKeys('33'.repeat(32))
  const other = await loadKeys('44'.repeat(32))
  const sealed = await seal('{"inject_processor":{"token":"TOPSECRET"},"no_auth":{}}', keys.sealKey)
  const bytes = Buffer.from(sealed, 'base64')
  const flipped = Buffer.from(bytes)
  flipped[40] = flipped[40]! ^ 1
  const cases = [
    flipped.toString('base64'),
    bytes.subarray(0, bytes.length - 1).toString('base64'),
    bytes.subarray(0, 20).toString('base64'),
    await seal('{"no_auth":{}}', other.sealKey),
    `${sealed}!`,
    sealed.replace(/=+$/, ''),
    '',
  ]
  for (const c of cases) {
    assert.throws(() => keys.open(c), (e: unknown) => refusedAs('tokenizer_bad_seal')(e) && !String((e as Error).message).includes('TOPSECRET'))
  }
})

test('an open key that is not 64 hex digits is refused', async () => {
  await assert.rejects(loadKeys('abc'), refusedAs('invalid_argument'))
})
