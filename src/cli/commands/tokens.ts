/**
 * hangar tokens create|list|revoke|attenuate|inspect. attenuate and inspect work offline on a
 * token string: no daemon is asked, and the result can only reach less than the input.
 */
import { readFileSync } from 'node:fs'
import { table } from '../output.ts'
import type { Command, Invocation } from '../command.ts'
import { HangarError } from '../../errors.ts'
import { actions, attenuate, inspect, type Action, type Caveat, type CreateTokenRequest, type Restrictions } from '../../sdk/index.ts'

const scopeFlags = {
  app: { type: 'string' as const, multiple: true },
  machine: { type: 'string' as const, multiple: true },
  action: { type: 'string' as const, multiple: true },
  'expires-in': { type: 'string' as const },
  source: { type: 'string' as const, multiple: true },
}
const scopeUsage = '[--app NAME]... [--machine ID]... [--action ' + actions.join('|') + ']... [--expires-in 1h|SECONDS] [--source CIDR]...'

const list = (v: unknown): string[] | undefined => (Array.isArray(v) && v.length ? (v as string[]) : undefined)

function actionsOf(flags: Invocation['flags']): Action[] | undefined {
  const asked = list(flags.action)?.flatMap((a) => a.split(','))
  for (const a of asked ?? []) if (!(actions as readonly string[]).includes(a)) throw new HangarError('invalid_argument', `unknown action "${a}"; one of: ${actions.join(', ')}`)
  return asked as Action[] | undefined
}

/** Seconds from "3600", "90s", "30m", "1h" or "2d". */
function seconds(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(v.trim())
  if (!m) throw new HangarError('invalid_argument', `--expires-in ${v}: use seconds or a duration like 90s, 30m, 1h, 2d`)
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd']
}

function restrictions(flags: Invocation['flags']): Restrictions {
  const apps = list(flags.app)
  const machines = list(flags.machine)
  const acts = actionsOf(flags)
  const sources = list(flags.source)
  return {
    ...(apps ? { apps } : {}), ...(machines ? { machines } : {}), ...(acts ? { actions: acts } : {}), ...(sources ? { sources } : {}),
    ...(typeof flags['expires-in'] === 'string' ? { expires_in: seconds(flags['expires-in']) } : {}),
  }
}

/** The token to work on: the argument, stdin for "-", or the one this CLI uses (HANGAR_TOKEN). */
function tokenArg(inv: Invocation): string {
  const arg = inv.positionals[0]
  const token = arg === '-' ? readFileSync(0, 'utf8').trim() : arg ?? inv.client().token
  if (!token.startsWith('hm1_')) {
    throw new HangarError('invalid_argument', 'that token is not a macaroon (hm1_…): the root token cannot be attenuated or inspected', { hint: 'mint one with `hangar tokens create`, then attenuate that' })
  }
  return token
}

const describe = (c: Caveat): string => {
  switch (c.type) {
    case 'apps': return `apps ${c.apps.join(',') || '(none)'}`
    case 'machines': return `machines ${c.machines.join(',') || '(none)'}`
    case 'actions': return `actions ${c.actions.join(',') || '(none)'}`
    case 'source': return `from ${c.cidrs.join(',') || '(nowhere)'}`
    case 'validity': return [c.not_before !== undefined ? `from ${new Date(c.not_before * 1000).toISOString()}` : '', c.not_after !== undefined ? `until ${new Date(c.not_after * 1000).toISOString()}` : ''].filter(Boolean).join(' ')
  }
}
const caveatsText = (cs: Caveat[]): string => (cs.length ? cs.map(describe).join('; ') : 'no caveats (everything)')

export const tokens: Record<string, Command> = {
  create: {
    usage: `hangar tokens create ${scopeUsage} [--description TEXT]`,
    summary: 'Mint a token narrower than yours (printed once)',
    flags: { ...scopeFlags, description: { type: 'string' } },
    async run(inv) {
      const { sources, ...rest } = restrictions(inv.flags)
      const req: CreateTokenRequest = { ...rest, ...(sources ? { sources } : {}), ...(typeof inv.flags.description === 'string' ? { description: inv.flags.description } : {}) }
      const t = await inv.client().tokens.create(req)
      inv.out.result(t, (x) => [x.token, `# id ${x.id}: ${caveatsText(x.caveats)}; revoke with: hangar tokens revoke ${x.id}`])
    },
  },
  list: {
    usage: 'hangar tokens list',
    summary: 'List the tokens you may see (never their secrets)',
    async run({ out, client }) {
      const all = await client().tokens.list()
      out.result(all, (l) => (l.length ? table([['ID', 'DESCRIPTION', 'CAVEATS', 'CREATED', 'LAST USED', 'REVOKED'], ...l.map((x) => [x.id, x.description, caveatsText(x.caveats), x.created_at, x.last_used_at ?? '-', x.revoked_at ?? '-'])]) : 'no tokens; mint one with `hangar tokens create`'))
    },
  },
  revoke: {
    usage: 'hangar tokens revoke ID',
    summary: 'Revoke a token and every token minted from it',
    async run({ positionals, out, client }) {
      const id = positionals[0]
      if (!id) throw new HangarError('invalid_argument', `missing token id; usage: ${this.usage}`)
      const r = await client().tokens.revoke(id)
      out.result(r, (x) => `revoked ${x.id} (${x.revoked} token${x.revoked === 1 ? '' : 's'} with those minted from it)`)
    },
  },
  attenuate: {
    usage: `hangar tokens attenuate [TOKEN|-] ${scopeUsage}`,
    summary: 'Offline: print a narrower token (default: HANGAR_TOKEN; - reads stdin)',
    flags: scopeFlags,
    async run(inv) {
      const r = restrictions(inv.flags)
      if (Object.keys(r).length === 0) throw new HangarError('invalid_argument', `nothing to add; usage: ${this.usage}`)
      const narrower = attenuate(tokenArg(inv), r)
      inv.out.result({ token: narrower, ...inspect(narrower) }, (x) => x.token)
    },
  },
  inspect: {
    usage: 'hangar tokens inspect [TOKEN|-]',
    summary: "Offline: a token's id and caveats (its signature is the daemon's to check)",
    async run(inv) {
      const info = inspect(tokenArg(inv))
      inv.out.result(info, (x) => [`id ${x.id}`, ...x.caveats.map((c, i) => `  ${i}: ${describe(c)}`), ...(x.caveats.length ? [] : ['  no caveats (everything the root token can do)'])])
    },
  },
}
