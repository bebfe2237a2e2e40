/**
 * The tokenizer's key pair and NaCl anonymous sealed boxes, as superfly/tokenizer uses them: the
 * open key is 32 random bytes (hex), the seal key its X25519 public key (hex), and a sealed secret
 * is base64 (standard, padded) of crypto_box_seal(secret JSON) = ephemeral public key ‖ box, the
 * nonce being BLAKE2b-24(ephemeral pk ‖ seal key): Go's nacl/box.SealAnonymous byte for byte.
 *
 *   const keys = await loadKeys(openKeyHex)
 *   const sealed = await seal('{"inject_processor":…}', keys.sealKey)
 *   const json = keys.open(sealed)          // throws tokenizer_bad_seal
 */
import sodium from 'libsodium-wrappers'
import { HangarError } from '../errors.ts'

export interface Keys {
  /** Hex X25519 public key: what sealers encrypt to. Safe to show anyone. */
  sealKey: string
  /** The secret's JSON bytes; throws tokenizer_bad_seal for anything that does not open with this key. */
  open(sealedBase64: string): Buffer
}

const hex64 = /^[0-9a-f]{64}$/i
/** Standard base64 with padding, as Go's base64.StdEncoding writes it (its decoder also skips CR and LF). */
const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
/** An ephemeral public key (32) and a MAC (16): a sealed box of nothing. */
const minSealed = 48

const badSeal = (why: string): HangarError => new HangarError('tokenizer_bad_seal', `the sealed secret ${why}`)

/** Decodes standard base64 strictly: a string Node's lenient decoder would half-read is refused instead. */
export function decodeBase64(text: string): Buffer | null {
  const s = text.replace(/[\r\n]/g, '')
  return base64.test(s) ? Buffer.from(s, 'base64') : null
}

export async function loadKeys(openKeyHex: string): Promise<Keys> {
  if (!hex64.test(openKeyHex)) throw new HangarError('invalid_argument', 'the tokenizer open key is not 64 hex digits')
  await sodium.ready
  const priv = Buffer.from(openKeyHex, 'hex')
  const pub = sodium.crypto_scalarmult_base(priv)
  return {
    sealKey: Buffer.from(pub).toString('hex'),
    open(sealedBase64) {
      const box = decodeBase64(sealedBase64.trim())
      if (!box) throw badSeal('is not standard base64')
      if (box.length < minSealed) throw badSeal(`is ${box.length} bytes, shorter than any sealed box (truncated?)`)
      try {
        return Buffer.from(sodium.crypto_box_seal_open(box, pub, priv))
      } catch {
        throw badSeal('does not open with this tokenizer\'s key: altered, truncated, or sealed to another key')
      }
    },
  }
}

/** Seals a secret's JSON to a seal key (hex); the result is what goes in Proxy-Tokenizer. */
export async function seal(json: string, sealKeyHex: string): Promise<string> {
  if (!hex64.test(sealKeyHex)) throw new HangarError('invalid_argument', 'the seal key is not 64 hex digits')
  await sodium.ready
  return Buffer.from(sodium.crypto_box_seal(Buffer.from(json, 'utf8'), Buffer.from(sealKeyHex, 'hex'))).toString('base64')
}
