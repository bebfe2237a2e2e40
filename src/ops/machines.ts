/** Machines: the Fly Machines API's CRUD and lifecycle verbs, exec, wait, events and versions. */
import { z } from 'zod'
import type { ExecOutput } from '../platform/machine-ops.ts'
import type { MachineEventView } from '../platform/events.ts'
import type { WaitResult } from '../platform/waits.ts'
import { machineView } from './checkpoints.ts'
import { appParams, machineParams, ok } from './params.ts'
import { csv, flag, int } from './query.ts'
import { createMachine, execMachine, signalMachine, stopMachine, updateMachine, waitQuery } from './schemas.ts'
import { op } from './spec.ts'

const M = '/v1/apps/:app/machines/:id'
const common = { tag: 'machines', params: machineParams }

export const machineListQuery = z.looseObject({
  state: csv.optional().describe('only machines in these states (comma-separated)'),
  include_deleted: flag.describe('include destroyed machines'),
  'metadata.{key}': z.string().optional().describe('only machines whose metadata key equals the value'),
})

export const machineList = op({
  id: 'machine.list', method: 'get', path: '/v1/apps/:app/machines', tag: 'machines', params: appParams, input: machineListQuery, output: z.array(machineView),
  access: { action: 'read', listing: 'machines' }, summary: 'List machines (a token limited to some machines sees only those)',
})
export const machineCreate = op({
  id: 'machine.create', method: 'post', path: '/v1/apps/:app/machines', tag: 'machines', params: appParams, input: createMachine, output: machineView,
  access: { action: 'create' }, idempotent: true, summary: 'Create (and start, unless skip_launch) a machine; an Idempotency-Key header makes retries return the first result',
})
export const machineGet = op({
  ...common, id: 'machine.get', method: 'get', path: M, input: z.object({ include_leases: flag.describe('include the lease') }), output: machineView,
  access: { action: 'read' }, summary: 'Get a machine',
})
export const machineUpdate = op({
  ...common, id: 'machine.update', method: 'post', path: M, input: updateMachine, output: machineView, access: { action: 'write' }, states: 'update', lease: true,
  summary: 'Update a machine (replaces the whole config; restarts it)',
})
export const machineDestroy = op({
  ...common, id: 'machine.destroy', method: 'delete', path: M, input: z.object({ force: flag.describe('destroy even if running'), kill: flag.describe('same as force') }), output: ok,
  access: { action: 'delete' }, states: 'destroy', lease: true, summary: 'Destroy a machine (force: from any state)',
})
export const machineStart = op({
  ...common, id: 'machine.start', method: 'post', path: `${M}/start`, output: z.object({ previous_state: z.string(), migrated: z.literal(false), new_host: z.literal('') }),
  access: { action: 'write' }, states: 'start', lease: true, summary: 'Start a machine',
})
// Fly's clients send stop and restart options in the query (fly-go) or the body (the docs): both are read.
export const machineStop = op({
  ...common, id: 'machine.stop', method: 'post', path: `${M}/stop`, input: stopMachine, queryToo: true, output: ok, access: { action: 'write' }, states: 'stop', lease: true,
  summary: 'Stop a machine (signal, then SIGKILL after timeout)',
})
export const machineRestart = op({
  ...common, id: 'machine.restart', method: 'post', path: `${M}/restart`, input: stopMachine, queryToo: true, output: ok, access: { action: 'write' }, states: 'restart', lease: true,
  summary: 'Restart a machine',
})
export const machineSignal = op({
  ...common, id: 'machine.signal', method: 'post', path: `${M}/signal`, input: signalMachine, output: ok, access: { action: 'write' }, states: 'signal', lease: true,
  summary: 'Send a signal to the machine',
})
export const machineSuspend = op({
  ...common, id: 'machine.suspend', method: 'post', path: `${M}/suspend`, output: ok, access: { action: 'write' }, states: 'suspend', lease: true, summary: 'Suspend (freeze) a machine',
})
export const machineVersions = op({
  ...common, id: 'machine.versions', method: 'get', path: `${M}/versions`, output: z.array(z.object({ version: z.string(), user_config: z.record(z.string(), z.unknown()) })),
  access: { action: 'read' }, summary: 'List versions',
})
export const machineWait = op({
  ...common, id: 'machine.wait', method: 'get', path: `${M}/wait`, input: waitQuery, output: z.custom<WaitResult>(),
  access: { action: 'read' }, summary: 'Wait for a machine to reach a state (long-poll; 408 on timeout)',
})
export const machineExec = op({
  ...common, id: 'machine.exec', method: 'post', path: `${M}/exec`, input: execMachine, output: z.custom<ExecOutput>(), access: { action: 'exec' }, states: 'exec', lease: true,
  summary: 'Run a command in a started machine; bounded output. A client that goes away takes its command with it',
})
export const machineEvents = op({
  ...common, id: 'machine.events', method: 'get', path: `${M}/events`, input: z.object({ limit: int.pipe(z.number().min(1).max(50)).optional().describe('default 20, max 50') }),
  output: z.array(z.custom<MachineEventView>()), access: { action: 'read' }, summary: 'List machine events, newest first',
})
