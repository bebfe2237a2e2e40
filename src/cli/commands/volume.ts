/** hangar volume create|list|show|extend|destroy|snapshot|snapshots|fork: an app's volumes (Fly's Volumes resource). */
import { HangarError } from '../../errors.ts'
import type { Volume } from '../../sdk/index.ts'
import { appFlag, type Command, type Invocation } from '../command.ts'
import { table } from '../output.ts'
import { intFlag } from '../resolve.ts'

function appOf(inv: Invocation, usage: string): string {
  const app = inv.flags.app as string | undefined
  if (!app) throw new HangarError('invalid_argument', `--app is required; usage: ${usage}`)
  return app
}

function arg(inv: Invocation, usage: string): string {
  const v = inv.positionals[0]
  if (!v) throw new HangarError('invalid_argument', `missing arguments; usage: ${usage}`)
  return v
}

const rows = (list: Volume[]): string[] =>
  table([['ID', 'NAME', 'SIZE', 'USED', 'ATTACHED TO', 'CREATED'], ...list.map((v) => [v.id, v.name, `${v.size_gb} GB`, `${Math.round(v.bytes_used / 2 ** 20)} MB`, v.attached_machine_id ?? '-', v.created_at])])

const sizeFlags = { size: { type: 'string' as const, short: 's' } }

export const volumeCommands: Record<string, Command> = {
  create: {
    usage: 'hangar volume create NAME --app A [--size GB] [--snapshot VS_ID]',
    summary: 'Create a volume (default 3 GB), empty or from a snapshot; mount it with config.mounts [{volume, path}]',
    flags: { ...appFlag, ...sizeFlags, snapshot: { type: 'string' } },
    async run(inv) {
      const name = arg(inv, this.usage)
      const size = intFlag(inv.flags.size, 'size')
      const v = await inv.client().volumes.create(appOf(inv, this.usage), { name, ...(size ? { size_gb: size } : {}), ...(inv.flags.snapshot ? { snapshot_id: inv.flags.snapshot as string } : {}) })
      inv.out.result(v, () => `${v.id} (${v.size_gb} GB); mount it with "mounts": [{"volume": "${v.id}", "path": "/data"}]`)
    },
  },
  fork: {
    usage: 'hangar volume fork VOLUME --app A [--name NAME] [--size GB]',
    summary: 'A new volume that starts as VOLUME is now, then goes its own way',
    flags: { ...appFlag, ...sizeFlags, name: { type: 'string', short: 'n' } },
    async run(inv) {
      const source = arg(inv, this.usage)
      const app = appOf(inv, this.usage)
      const size = intFlag(inv.flags.size, 'size')
      const name = (inv.flags.name as string | undefined) ?? (await inv.client().volumes.get(app, source)).name
      const v = await inv.client().volumes.fork(app, source, { name, ...(size ? { size_gb: size } : {}) })
      inv.out.result(v, () => `${v.id} (${v.size_gb} GB), forked from ${source}`)
    },
  },
  list: {
    usage: 'hangar volume list --app A',
    summary: "List an app's volumes",
    flags: appFlag,
    async run(inv) {
      const list = await inv.client().volumes.list(appOf(inv, this.usage))
      inv.out.result(list, () => rows(list))
    },
  },
  show: {
    usage: 'hangar volume show VOLUME --app A',
    summary: 'Show one volume',
    flags: appFlag,
    async run(inv) {
      const v = await inv.client().volumes.get(appOf(inv, this.usage), arg(inv, this.usage))
      inv.out.result(v, () => rows([v]))
    },
  },
  extend: {
    usage: 'hangar volume extend VOLUME --app A --size GB',
    summary: 'Grow a volume at once (mounted or not); it cannot shrink',
    flags: { ...appFlag, ...sizeFlags },
    async run(inv) {
      const size = intFlag(inv.flags.size, 'size')
      if (!size) throw new HangarError('invalid_argument', `--size is required; usage: ${this.usage}`)
      const r = await inv.client().volumes.extend(appOf(inv, this.usage), arg(inv, this.usage), size)
      inv.out.result(r, () => `${r.volume.id} is now ${r.volume.size_gb} GB${r.needs_restart ? '; restart its machine to use it' : ''}`)
    },
  },
  destroy: {
    usage: 'hangar volume destroy VOLUME --app A',
    summary: 'Delete a volume, its data and its snapshots (refused while a machine has it attached)',
    flags: appFlag,
    async run(inv) {
      const v = await inv.client().volumes.destroy(appOf(inv, this.usage), arg(inv, this.usage))
      inv.out.result(v, () => `${v.id} destroyed`)
    },
  },
  snapshot: {
    usage: 'hangar volume snapshot VOLUME --app A',
    summary: 'Freeze the volume as it is now (read-only, instant); create --snapshot makes a volume from it',
    flags: appFlag,
    async run(inv) {
      const id = arg(inv, this.usage)
      const s = await inv.client().volumes.snapshot(appOf(inv, this.usage), id)
      inv.out.result(s, () => `snapshot ${s.id} of ${id} (${s.size} bytes)`)
    },
  },
  snapshots: {
    usage: 'hangar volume snapshots VOLUME --app A',
    summary: "List a volume's snapshots, oldest first",
    flags: appFlag,
    async run(inv) {
      const list = await inv.client().volumes.snapshots(appOf(inv, this.usage), arg(inv, this.usage))
      inv.out.result(list, () => table([['ID', 'CREATED', 'SIZE', 'STATUS'], ...list.map((s) => [s.id, s.created_at, String(s.size), s.status])]))
    },
  },
}
