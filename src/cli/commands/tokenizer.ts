/**
 * hangar tokenizer seal|key. The credential never goes on the command line (every user of the
 * host can read a process's arguments): it comes on stdin, and the proxy token from an
 * environment variable. `--secret FILE` seals a whole secret in superfly/tokenizer's JSON instead.
 */
import { readFileSync } from 'node:fs'
import type { Command, Invocation } from '../command.ts'
import { HangarError } from '../../errors.ts'
import type { SealInput } from '../../sdk/index.ts'

const list = (v: unknown): string[] | undefined => (Array.isArray(v) && v.length ? (v as string[]) : undefined)
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** The secret to seal: a JSON file (or - for stdin), or an inject_processor built from the flags with the credential read from stdin. */
function secretOf(inv: Invocation): SealInput {
  const f = inv.flags
  const file = str(f.secret)
  const shaping = ['host', 'host-pattern', 'dst', 'fmt', 'proxy-token-env', 'no-auth'].filter((k) => f[k] !== undefined)
  if (file !== undefined) {
    if (shaping.length) throw new HangarError('invalid_argument', `--secret takes the whole secret; --${shaping[0]} belongs in it`)
    try {
      return JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8')) as SealInput
    } catch (e) {
      throw new HangarError('invalid_argument', `--secret ${file}: ${e instanceof SyntaxError ? 'not JSON' : ((e as NodeJS.ErrnoException).code ?? String(e))}`)
    }
  }
  const envName = str(f['proxy-token-env'])
  if (!envName && f['no-auth'] !== true) {
    throw new HangarError('invalid_argument', 'say who may use the secret: --proxy-token-env VAR (the Proxy-Authorization token, read from that variable) or --no-auth', {
      hint: 'with --no-auth, anything that can reach the tokenizer and holds the sealed value can use it (toward its allowed hosts only)',
    })
  }
  const proxyToken = envName ? process.env[envName] : undefined
  if (envName && !proxyToken) throw new HangarError('invalid_argument', `the environment variable ${envName} is empty or unset`)
  const credential = readFileSync(0, 'utf8').replace(/\r?\n$/, '')
  if (!credential) throw new HangarError('invalid_argument', 'no credential on stdin', { hint: 'printf %s "$API_KEY" | hangar tokenizer seal --host api.example.com …' })
  const hosts = list(f.host)
  const pattern = str(f['host-pattern'])
  return {
    inject_processor: { token: credential, ...(str(f.dst) ? { dst: str(f.dst) } : {}), ...(str(f.fmt) ? { fmt: str(f.fmt) } : {}) },
    ...(proxyToken ? { bearer_auth: { token: proxyToken } } : { no_auth: {} }),
    ...(hosts ? { allowed_hosts: hosts } : {}),
    ...(pattern ? { allowed_host_pattern: pattern } : {}),
  }
}

export const tokenizer: Record<string, Command> = {
  seal: {
    usage: 'printf %s "$API_KEY" | hangar tokenizer seal --host HOST... [--host-pattern RE] [--dst HEADER] [--fmt "Bearer %s"] (--proxy-token-env VAR | --no-auth)\n       hangar tokenizer seal --secret FILE|-   (a whole secret in superfly/tokenizer\'s JSON)',
    summary: 'Seal a credential for the tokenizer: prints the placeholder a robot may hold',
    flags: {
      secret: { type: 'string' },
      host: { type: 'string', multiple: true },
      'host-pattern': { type: 'string' },
      dst: { type: 'string' },
      fmt: { type: 'string' },
      'proxy-token-env': { type: 'string' },
      'no-auth': { type: 'boolean' },
    },
    async run(inv) {
      const { sealed } = await inv.client().tokenizer.seal(secretOf(inv))
      inv.out.result({ sealed }, (x) => x.sealed)
    },
  },
  key: {
    usage: 'hangar tokenizer key',
    summary: 'The seal key secrets are sealed to, and where machines and the host reach the tokenizer',
    async run({ out, client }) {
      const info = await client().tokenizer.info()
      out.result(info, (x) => [
        `seal key      ${x.seal_key}`,
        `for machines  ${x.address ?? '(not yet: listens on the machines\' gateway once a machine exists)'}`,
        `on the host   ${x.host_address ?? '-'}`,
      ])
    },
  },
}
