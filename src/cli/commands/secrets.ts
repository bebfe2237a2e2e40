/**
 * hangar secrets set|unset|list: an app's write-only secrets. Values come from the arguments, or from
 * stdin so they stay out of shell history: `NAME=-` reads one value, and no NAME=VALUE at all reads
 * NAME=VALUE lines. Nothing printed here, errors included, ever holds a value.
 */
import { readFileSync } from 'node:fs'
import { HangarError } from '../../errors.ts'
import { appFlag, type Command, type Invocation } from '../command.ts'
import { table } from '../output.ts'

function appOf(inv: Invocation, usage: string): string {
  const app = (inv.flags.app as string | undefined) ?? process.env.HANGAR_APP
  if (!app) throw new HangarError('invalid_argument', `--app is required; usage: ${usage}`)
  return app
}

const nameRule = /^[A-Za-z_][A-Za-z0-9_]*$/

/** NAME=VALUE → [NAME, VALUE]; a bad one is named by where it is, never by what it holds (it may be a value). */
function pair(text: string, where: string): [string, string] {
  const i = text.indexOf('=')
  const name = i > 0 ? text.slice(0, i) : ''
  if (!nameRule.test(name)) throw new HangarError('invalid_argument', `${where} is not NAME=VALUE with NAME letters, digits and _ (not starting with a digit)`)
  return [name, text.slice(i + 1)]
}

/** The secrets to set: from the arguments (NAME=- reads that one value from stdin), else NAME=VALUE lines on stdin. */
function valuesOf(inv: Invocation, readStdin: () => string): Record<string, string> {
  const out: Record<string, string> = {}
  if (inv.positionals.length === 0) {
    const lines = readStdin().split('\n')
    for (const [n, line] of lines.entries()) {
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue
      const [name, value] = pair(line.replace(/\r$/, ''), `line ${n + 1} of stdin`)
      out[name] = value
    }
    if (Object.keys(out).length === 0) throw new HangarError('invalid_argument', 'no NAME=VALUE given, in the arguments or on stdin')
    return out
  }
  let fromStdin = 0
  for (const [n, arg] of inv.positionals.entries()) {
    const [name, value] = pair(arg, `argument ${n + 1}`)
    if (value === '-') {
      if (++fromStdin > 1) throw new HangarError('invalid_argument', 'only one NAME=- can read its value from stdin')
      // One trailing newline is the echo's or the file's, not the value's.
      out[name] = readStdin().replace(/\r?\n$/, '')
    } else out[name] = value
  }
  return out
}

const rollout = 'machines get them when created or updated (`hangar machine update ID` gives a machine the current secrets)'

export const secretsCommands: Record<string, Command> = {
  set: {
    usage: 'hangar secrets set NAME=VALUE… --app A   (NAME=- reads the value from stdin; no NAME=VALUE reads NAME=VALUE lines from stdin)',
    summary: 'Set app secrets (write-only; machines get them as env vars when created or updated)',
    flags: appFlag,
    async run(inv) {
      const app = appOf(inv, this.usage)
      const values = valuesOf(inv, () => readFileSync(0, 'utf8'))
      const r = await inv.client().secrets.update(app, values)
      const set = r.secrets.filter((s) => s.name in values)
      inv.out.result({ version: r.version, secrets: set }, () => `set ${set.map((s) => s.name).join(', ')} in app ${app} (secrets version ${r.version}); ${rollout}`)
    },
  },
  unset: {
    usage: 'hangar secrets unset NAME… --app A',
    summary: 'Remove app secrets (machines keep theirs until updated)',
    flags: appFlag,
    async run(inv) {
      const app = appOf(inv, this.usage)
      if (inv.positionals.length === 0) throw new HangarError('invalid_argument', `missing NAME; usage: ${this.usage}`)
      for (const [n, name] of inv.positionals.entries()) if (!nameRule.test(name)) throw new HangarError('invalid_argument', `argument ${n + 1} is not a secret name (letters, digits and _)`)
      const r = await inv.client().secrets.update(app, Object.fromEntries(inv.positionals.map((n) => [n, null])))
      inv.out.result(r, () => `unset ${inv.positionals.join(', ')} in app ${app} (secrets version ${r.version}, ${r.secrets.length} left); ${rollout}`)
    },
  },
  list: {
    usage: 'hangar secrets list --app A',
    summary: "List an app's secrets: names and digests, never values",
    flags: appFlag,
    async run(inv) {
      const app = appOf(inv, this.usage)
      const list = await inv.client().secrets.list(app)
      inv.out.result(list, () => (list.length ? table([['NAME', 'DIGEST', 'UPDATED'], ...list.map((s) => [s.name, s.digest, s.updated_at])]) : `app ${app} has no secrets; set some with \`hangar secrets set NAME=VALUE --app ${app}\``))
    },
  },
}
