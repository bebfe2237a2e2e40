/**
 * App secrets at rest: each value sealed with AES-256-GCM under a key that lives outside the state
 * database (<data-dir>/secrets-key), bound to its app, name and version, and a keyed digest that
 * says whether two values differ without letting anyone test a guess.
 *
 *   const box = new SecretBox(key)                       // the 32-byte key from secrets-key
 *   const sealed = box.seal({ app, name, version }, 'hunter2')
 *   box.open({ app, name, version }, sealed)             // 'hunter2'; throws secrets_unreadable otherwise
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import { HangarError } from '../errors.ts'

/** Where a sealed value belongs: opening it anywhere else fails (the GCM tag covers these). */
export interface SecretSlot {
  app: string
  name: string
  version: number
}

/** The layout's first byte: a different layout (or key scheme) gets another. */
const format = 1
const ivBytes = 12
const tagBytes = 16

const subkey = (key: Buffer, purpose: string): Buffer => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `hangar app secrets v1 ${purpose}`, 32))

/** NUL separators: app and secret names hold no NUL, so no two slots share these bytes. */
const aad = (s: SecretSlot): Buffer => Buffer.from(`${s.app}\0${s.name}\0${s.version}`)

export class SecretBox {
  readonly #seal: Buffer
  readonly #digest: Buffer

  constructor(key: Buffer) {
    if (key.length !== 32) throw new HangarError('internal', `the secrets key is ${key.length} bytes, not 32`)
    this.#seal = subkey(key, 'seal')
    this.#digest = subkey(key, 'digest')
  }

  /** format | iv (12) | tag (16) | ciphertext: a fresh random iv every time, so equal values never look equal. */
  seal(slot: SecretSlot, value: string): Buffer {
    const iv = randomBytes(ivBytes)
    const cipher = createCipheriv('aes-256-gcm', this.#seal, iv)
    cipher.setAAD(aad(slot))
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()])
    return Buffer.concat([Buffer.of(format), iv, cipher.getAuthTag(), body])
  }

  /** The value, or secrets_unreadable: another key, another slot, or altered bytes. The message names the slot, never content. */
  open(slot: SecretSlot, sealed: Uint8Array): string {
    const b = Buffer.from(sealed)
    const unreadable = (why: string): HangarError =>
      new HangarError('secrets_unreadable', `app ${slot.app}'s secret ${slot.name} (version ${slot.version}) cannot be opened: ${why}`)
    if (b.length < 1 + ivBytes + tagBytes || b[0] !== format) throw unreadable('it is not in a format this daemon writes')
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#seal, b.subarray(1, 1 + ivBytes))
      decipher.setAAD(aad(slot))
      decipher.setAuthTag(b.subarray(1 + ivBytes, 1 + ivBytes + tagBytes))
      return Buffer.concat([decipher.update(b.subarray(1 + ivBytes + tagBytes)), decipher.final()]).toString('utf8')
    } catch {
      throw unreadable('the key in secrets-key is not the one it was sealed with, or the stored bytes were altered')
    }
  }

  /**
   * Fly's digest shape (32 hex digits): the first 16 bytes of HMAC-SHA256(digest key, app NUL value).
   * Equal values of one app have equal digests; without the key nobody can check a guess against one,
   * and the same value in two apps does not show as the same.
   */
  digest(app: string, value: string): string {
    return createHmac('sha256', this.#digest).update(`${app}\0`).update(value, 'utf8').digest('hex').slice(0, 32)
  }
}
