/** Checkpoint, restore and fork tools: save a known-good disk, go back to it in one call, try ideas side by side. */
import { z } from 'zod'
import { checkpointCreate, checkpointDelete, checkpointList, checkpointRestore, checkpointView as fullView, machineFork, MAX_FORKS } from '../../../ops/index.ts'
import { changes, creates, destroys, opTool, readOnly } from '../tool.ts'
import { machineRef, machineSummary, summary } from './fields.ts'
import { urlOf } from './machines.ts'

const checkpointId = z.string().regex(/^v\d+$/).meta({ description: 'Checkpoint id, as machine_checkpoint or machine_checkpoints returned it.', examples: ['v3'] })
const checkpointView = fullView.pick({ id: true, create_time: true, comment: true, source_id: true, size_bytes: true })
const brief = (c: z.infer<typeof fullView>): z.infer<typeof checkpointView> => ({ id: c.id, create_time: c.create_time, comment: c.comment, source_id: c.source_id, size_bytes: c.size_bytes })
/** Most checkpoints one answer lists (the retention count bounds them anyway). */
const MAX_LISTED = 100

export const checkpointTools = [
  opTool(checkpointCreate, {
    name: 'machine_checkpoint',
    title: 'Checkpoint a machine\'s disk',
    description: 'Save the machine\'s whole disk as it is now (installed packages, code, data), running or stopped; a running machine pauses for an instant. Give a comment to keep it past the retention count. Go back with machine_restore; start new machines from it with machine_fork.',
    input: z.object({ ...machineRef, comment: z.string().max(256).optional().meta({ description: 'What state this is, e.g. "deps installed, tests green".' }) }),
    output: checkpointView,
    annotations: creates,
    async run({ app, id, comment }, { backend }) {
      const cp = brief(await backend.run(checkpointCreate, { app, id }, comment === undefined ? {} : { comment }))
      return { structured: cp, text: `checkpoint ${cp.id} of machine ${id} (${cp.size_bytes} bytes)${cp.comment ? `: ${cp.comment}` : ''}; machine_restore with checkpoint "${cp.id}" goes back to it` }
    },
  }),

  opTool(checkpointList, {
    name: 'machine_checkpoints',
    title: 'List a machine\'s checkpoints',
    description: `The machine's checkpoints, oldest first (at most ${MAX_LISTED}).`,
    input: z.object(machineRef),
    output: z.object({ checkpoints: z.array(checkpointView), truncated: z.boolean() }),
    annotations: readOnly,
    async run({ app, id }, { backend }) {
      const all = (await backend.run(checkpointList, { app, id })).map(brief)
      const checkpoints = all.slice(-MAX_LISTED)
      const lines = checkpoints.map((c) => `${c.id} ${c.create_time}${c.comment ? ` ${c.comment}` : ''}`)
      return { structured: { checkpoints, truncated: all.length > checkpoints.length }, text: lines.length ? lines.join('\n') : `machine ${id} has no checkpoints; make one with machine_checkpoint` }
    },
  }),

  opTool(checkpointRestore, {
    name: 'machine_restore',
    title: 'Restore a machine to a checkpoint',
    description: 'Put the machine\'s disk back exactly as it was at the checkpoint: everything written since is gone. A running machine restarts on the restored disk; a stopped one stays stopped.',
    input: z.object({ ...machineRef, checkpoint: checkpointId }),
    output: z.object({ id: z.string(), checkpoint: z.string(), state: z.string() }),
    annotations: destroys,
    async run({ app, id, checkpoint }, { backend }) {
      const { state } = await backend.run(checkpointRestore, { app, id, cp: checkpoint })
      return { structured: { id, checkpoint, state }, text: `machine ${id} is back at ${checkpoint}; it is ${state}` }
    },
  }),

  opTool(machineFork, {
    name: 'machine_fork',
    title: 'Fork a machine',
    description: `New machines with this machine's config whose disks start as one of its checkpoints (or its disk now): try several ideas side by side. Writes on one never show on another. count 1-${MAX_FORKS}.`,
    input: z.object({
      ...machineRef,
      checkpoint: checkpointId.optional().meta({ description: 'Start from this checkpoint; default: the disk as it is now.' }),
      count: z.number().int().min(1).max(MAX_FORKS).default(1).meta({ description: 'How many machines.' }),
      skip_launch: z.boolean().optional().meta({ description: 'Create them stopped.' }),
    }),
    output: z.object({ machines: z.array(machineSummary.extend({ url: z.string().nullable() })) }),
    annotations: creates,
    async run({ app, id, checkpoint, count, skip_launch }, { backend }) {
      const made = [await backend.run(machineFork, { app, id }, { count, ...(checkpoint ? { checkpoint } : {}), ...(skip_launch ? { skip_launch } : {}) })].flat()
      const machines = made.map((m) => ({ ...summary(m), url: urlOf(m) }))
      return { structured: { machines }, text: machines.map((m) => `${m.id} ${m.state} ${m.private_ip ?? ''}`).join('\n') }
    },
  }),

  opTool(checkpointDelete, {
    name: 'machine_checkpoint_delete',
    title: 'Delete a checkpoint',
    description: 'Delete one of the machine\'s checkpoints; the machine and its other checkpoints are untouched.',
    input: z.object({ ...machineRef, checkpoint: checkpointId }),
    output: z.object({ id: z.string(), deleted: z.string() }),
    annotations: changes,
    async run({ app, id, checkpoint }, { backend }) {
      await backend.run(checkpointDelete, { app, id, cp: checkpoint })
      return { structured: { id, deleted: checkpoint }, text: `checkpoint ${checkpoint} of machine ${id} deleted` }
    },
  }),
]
