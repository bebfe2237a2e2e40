/**
 * Checkpoints, restore and fork, in the Sprites API's shape under a Fly machine path. Checkpoint
 * and restore stream progress (NDJSON) to a client that asks.
 */
import { z } from 'zod'
import type { MachineView } from '../platform/view.ts'
import { machineNameSchema } from './schemas.ts'
import { checkpointParams, machineParams, ok } from './params.ts'
import { op } from './spec.ts'

const M = '/v1/apps/:app/machines/:id'
export const MAX_FORKS = 16

export const checkpointSchema = z.strictObject({
  comment: z.string().max(256).optional().describe('a note; a checkpoint with one is kept over those without when the retention count is reached'),
})

export const forkSchema = z.strictObject({
  checkpoint: z.string().optional().describe('the checkpoint of this machine to start from ("v3"); default: its disk as it is now'),
  name: machineNameSchema.optional().describe('the new machine\'s name; with count, names get -1, -2… appended'),
  skip_launch: z.boolean().optional().describe('create the forks without starting them'),
  count: z.number().int().min(1).max(MAX_FORKS).optional().describe(`how many machines to fork at once (1-${MAX_FORKS}); the answer is then a list`),
})

export const checkpointView = z.object({
  id: z.string().describe('"v1", "v2"…, never reused on a machine'),
  create_time: z.string(),
  comment: z.string(),
  source_id: z.string().nullable().describe('the checkpoint the disk descended from when this was taken ("v2", or "<machine>/v2"); null if none'),
  size_bytes: z.number(),
  volumes: z.array(z.object({ volume_id: z.string(), snapshot_id: z.string() })).describe('the volumes the machine mounted, each snapshotted at the same instant (an ordinary volume snapshot, vs_…)'),
})
export type CheckpointView = z.infer<typeof checkpointView>

export const restoreResult = z.object({
  ok: z.literal(true),
  checkpoint: checkpointView,
  state: z.string().describe('the machine\'s state after the restore: a running machine runs again on the restored disk'),
  volumes_restored: z.array(z.string()),
  volumes_skipped: z.array(z.string()).describe('volumes taken with the checkpoint that the machine no longer mounts'),
})
export type RestoreResult = z.infer<typeof restoreResult>

/** The Machine object (platform/view.ts); documented in docs/api.md. */
export const machineView = z.custom<MachineView>().describe('a Machine, as GET …/machines/{id} answers it')

export const checkpointCreate = op({
  id: 'checkpoint.create', method: 'post', path: `${M}/checkpoint`, tag: 'checkpoints', params: machineParams, input: checkpointSchema, output: checkpointView,
  access: { action: 'write' }, states: 'checkpoint', progress: true, lease: true,
  summary: 'Checkpoint the machine\'s disk (running machines are frozen for the instant of capture); answers {id, create_time, comment, source_id, size_bytes}, or NDJSON progress with Accept: application/x-ndjson',
})

export const checkpointList = op({
  id: 'checkpoint.list', method: 'get', path: `${M}/checkpoints`, tag: 'checkpoints', params: machineParams, output: z.array(checkpointView),
  access: { action: 'read' }, summary: 'List the machine\'s checkpoints, oldest first',
})

export const checkpointGet = op({
  id: 'checkpoint.get', method: 'get', path: `${M}/checkpoints/:cp`, tag: 'checkpoints', params: checkpointParams, output: checkpointView,
  access: { action: 'read' }, summary: 'Get one checkpoint',
})

export const checkpointDelete = op({
  id: 'checkpoint.delete', method: 'delete', path: `${M}/checkpoints/:cp`, tag: 'checkpoints', params: checkpointParams, output: ok,
  access: { action: 'delete' }, states: 'checkpoint', lease: true, summary: 'Delete a checkpoint; the machine and its other checkpoints are untouched',
})

export const checkpointRestore = op({
  id: 'checkpoint.restore', method: 'post', path: `${M}/checkpoints/:cp/restore`, tag: 'checkpoints', params: checkpointParams, output: restoreResult,
  access: { action: 'write' }, states: 'restore', progress: true, lease: true,
  summary: 'Put the machine\'s disk back as it was at the checkpoint: a running machine restarts on it, a stopped one stays stopped; NDJSON progress with Accept: application/x-ndjson',
})

export const machineFork = op({
  id: 'machine.fork', method: 'post', path: `${M}/fork`, tag: 'checkpoints', params: machineParams, input: forkSchema, output: z.union([machineView, z.array(machineView)]),
  access: { action: 'create' }, states: 'fork', lease: true,
  summary: 'New machines with this machine\'s config whose disks start as one of its checkpoints (or its disk now); answers the Machine, or a list with count',
})
