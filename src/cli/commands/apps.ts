/** hangar apps create|list|destroy */
import { table } from '../output.ts'
import type { Command } from '../command.ts'
import { HangarError } from '../../errors.ts'

const need = (name: string | undefined, usage: string): string => {
  if (!name) throw new HangarError('invalid_argument', `missing app name; usage: ${usage}`)
  return name
}

export const apps: Record<string, Command> = {
  create: {
    usage: 'hangar apps create NAME [--org SLUG]',
    summary: 'Create an app',
    flags: { org: { type: 'string' } },
    async run({ positionals, flags, out, client }) {
      const app = await client().apps.create(need(positionals[0], this.usage), flags.org as string | undefined)
      out.result(app, (a) => `created app ${a.name}; next: hangar machine run busybox --app ${a.name}`)
    },
  },
  list: {
    usage: 'hangar apps list',
    summary: 'List apps',
    async run({ out, client }) {
      const res = await client().apps.list()
      out.result(res.apps, (list) => (list.length ? table([['NAME', 'MACHINES', 'CREATED'], ...list.map((a) => [a.name, String(a.machine_count), a.created_at])]) : 'no apps; create one with `hangar apps create NAME`'))
    },
  },
  destroy: {
    usage: 'hangar apps destroy NAME [--force]',
    summary: "Destroy an app and its machines (--force stops running ones first)",
    flags: { force: { type: 'boolean' } },
    async run({ positionals, flags, out, client }) {
      const name = need(positionals[0], this.usage)
      await client().apps.destroy(name, { force: flags.force === true })
      out.result({ ok: true, app: name }, () => `destroyed app ${name}`)
    },
  },
}
