/** Identifiers in Fly's formats: 14-hex machine ids, ULID versions, "adjective-noun-1234" names. */
import { randomBytes, randomInt } from 'node:crypto'

export function machineId(): string {
  return randomBytes(7).toString('hex')
}

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** A ULID: 48 bits of ms time then 80 random bits, Crockford base32; sorts by creation time. */
export function ulid(now = Date.now()): string {
  let time = ''
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = crockford[t % 32] + time
  let rand = ''
  for (const b of randomBytes(16)) rand += crockford[b % 32]
  return time + rand
}

const adjectives = ['aged', 'bold', 'calm', 'dry', 'eager', 'fancy', 'gentle', 'hidden', 'icy', 'jolly', 'keen', 'lively', 'misty', 'noisy', 'odd', 'proud', 'quiet', 'rapid', 'shy', 'tidy', 'upbeat', 'vivid', 'wild', 'young']
const nouns = ['thunder', 'river', 'meadow', 'forest', 'canyon', 'harbor', 'glacier', 'comet', 'falcon', 'lantern', 'pebble', 'prairie', 'sunset', 'willow', 'ember', 'breeze', 'summit', 'island', 'rocket', 'hangar']

export function machineName(): string {
  return `${adjectives[randomInt(adjectives.length)]}-${nouns[randomInt(nouns.length)]}-${randomInt(1000, 10000)}`
}

export function nonce(): string {
  return randomBytes(6).toString('hex')
}
