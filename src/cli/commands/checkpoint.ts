/** hangar machine checkpoint|checkpoints|restore|fork|checkpoint-rm: known-good disks, rollback, forks. */
import { HangarError } from '../../errors.ts'
import { appFlag, type Command, type Invocation } from '../command.ts'
import { table } from '../output.ts'
import { findMachine, intFlag } from '../resolve.ts'

function args(inv: Invocation, usage: string, count: number): string[] {
  const got = inv.positionals.slice(0, count)
  if (got.length < count) throw new HangarError('invalid_argument', `missing arguments; usage: ${usage}`)
  return got
}

async function machineOf(inv: Invocation, ref: string): Promise<{ app: string; id: string }> {
  const { app, machine } = await findMachine(inv.client(), ref, inv.flags.app as string | undefined)
  return { app, id: machine.id }
}

export const checkpointCommands: Record<string, Command> = {
  checkpoint: {
    usage: 'hangar machine checkpoint ID [--app A] [-m COMMENT]',
    summary: "Save the machine's disk as a checkpoint (running or stopped)",
    flags: { ...appFlag, message: { type: 'string', short: 'm' } },
    async run(inv) {
      const [ref] = args(inv, this.usage, 1)
      const { app, id } = await machineOf(inv, ref!)
      const comment = inv.flags.message as string | undefined
      const cp = await inv.client().machines.checkpoint(app, id, comment === undefined ? {} : { comment })
      inv.out.result(cp, () => `checkpoint ${cp.id} of ${id} (${cp.size_bytes} bytes); hangar machine restore ${id} ${cp.id} goes back to it`)
    },
  },
  checkpoints: {
    usage: 'hangar machine checkpoints ID [--app A]',
    summary: "List a machine's checkpoints, oldest first",
    flags: appFlag,
    async run(inv) {
      const [ref] = args(inv, this.usage, 1)
      const { app, id } = await machineOf(inv, ref!)
      const list = await inv.client().machines.checkpoints(app, id)
      inv.out.result(list, () => table([['ID', 'CREATED', 'SIZE', 'SOURCE', 'COMMENT'], ...list.map((c) => [c.id, c.create_time, String(c.size_bytes), c.source_id ?? '-', c.comment])]))
    },
  },
  restore: {
    usage: 'hangar machine restore ID CHECKPOINT [--app A]',
    summary: "Put the machine's disk back as it was at the checkpoint (a running machine restarts on it)",
    flags: appFlag,
    async run(inv) {
      const [ref, cp] = args(inv, this.usage, 2)
      const { app, id } = await machineOf(inv, ref!)
      const r = await inv.client().machines.restore(app, id, cp!)
      inv.out.result(r, () => `${id} is back at ${cp}; it is ${r.state}`)
    },
  },
  fork: {
    usage: 'hangar machine fork ID [--app A] [--checkpoint CP] [--count N] [--name N] [--skip-launch]',
    summary: 'New machines whose disks start as a checkpoint (or the disk now)',
    flags: { ...appFlag, checkpoint: { type: 'string' }, count: { type: 'string' }, name: { type: 'string', short: 'n' }, 'skip-launch': { type: 'boolean' } },
    async run(inv) {
      const [ref] = args(inv, this.usage, 1)
      const { app, id } = await machineOf(inv, ref!)
      const f = inv.flags
      const made = await inv.client().machines.fork(app, id, {
        count: intFlag(f.count, 'count') ?? 1,
        ...(f.checkpoint ? { checkpoint: f.checkpoint as string } : {}),
        ...(f.name ? { name: f.name as string } : {}),
        ...(f['skip-launch'] ? { skip_launch: true } : {}),
      })
      inv.out.result(made, () => table([['ID', 'NAME', 'STATE', 'ADDRESS'], ...made.map((m) => [m.id, m.name, m.state, m.private_ip ?? '-'])]))
    },
  },
  'checkpoint-rm': {
    usage: 'hangar machine checkpoint-rm ID CHECKPOINT [--app A]',
    summary: 'Delete a checkpoint',
    flags: appFlag,
    async run(inv) {
      const [ref, cp] = args(inv, this.usage, 2)
      const { app, id } = await machineOf(inv, ref!)
      inv.out.result(await inv.client().machines.deleteCheckpoint(app, id, cp!), () => `deleted checkpoint ${cp} of ${id}`)
    },
  },
}
