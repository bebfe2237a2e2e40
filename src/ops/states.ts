/**
 * The machine state machine as data: which states each machine action may start from. Operations
 * name their row (OpSpec.states); the platform enforces it under the machine's lock
 * (platform/machine-state.ts), and OpenAPI and the MCP tools say it.
 * Persistent: created started stopped suspended failed destroyed.
 * Transient: starting stopping suspending replacing destroying.
 */
export const persistentStates = ['created', 'started', 'stopped', 'suspended', 'failed', 'destroyed'] as const
export const transientStates = ['starting', 'stopping', 'suspending', 'replacing', 'destroying'] as const
export type MachineState = (typeof persistentStates)[number] | (typeof transientStates)[number]

export type MachineAction = 'start' | 'stop' | 'restart' | 'suspend' | 'signal' | 'exec' | 'update' | 'destroy' | 'force_destroy' | 'lease' | 'checkpoint' | 'restore' | 'fork' | 'files'

export const allowedFrom: Record<MachineAction, readonly MachineState[]> = {
  start: ['created', 'stopped', 'suspended', 'failed', 'started'],
  // Stopping something already at rest is a no-op, not an error.
  stop: ['started', 'suspended', 'stopped', 'created', 'failed'],
  restart: ['started', 'stopped', 'created', 'failed'],
  suspend: ['started', 'suspended'],
  signal: ['started'],
  exec: ['started'],
  update: ['created', 'started', 'stopped', 'suspended', 'failed'],
  destroy: ['created', 'stopped', 'failed', 'suspended'],
  force_destroy: ['created', 'started', 'stopped', 'suspended', 'failed', 'starting', 'stopping', 'suspending', 'replacing'],
  // A disk mid-start or mid-stop is not one state: wait for it to settle.
  checkpoint: ['created', 'started', 'stopped', 'suspended', 'failed'],
  restore: ['created', 'started', 'stopped', 'suspended', 'failed'],
  fork: ['created', 'started', 'stopped', 'suspended', 'failed'],
  lease: ['created', 'started', 'stopped', 'suspended', 'failed', 'starting', 'stopping', 'suspending', 'replacing'],
  // Files need the disk in place: not while a replace swaps the layers under it, nor once destroy began.
  files: ['created', 'started', 'stopped', 'suspended', 'failed', 'starting', 'stopping', 'suspending'],
}
