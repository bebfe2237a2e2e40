/**
 * Every platform operation, declared once (spec.ts says what a declaration holds). REST routes
 * and OpenAPI are derived from these; the platform binds each to its service (platform/operations.ts);
 * MCP tools run them by declaration; the SDK is typed by them.
 *   import { checkpointCreate, type OpResult } from '../ops/index.ts'
 */
import * as apps from './apps.ts'
import * as checkpoints from './checkpoints.ts'
import * as files from './files.ts'
import * as machines from './machines.ts'
import * as volumes from './volumes.ts'
import type { OpSpec } from './spec.ts'

export { fillPath, inputInQuery, op, paramNames, queryDocs, type Method, type OpInput, type OpParams, type OpResult, type OpSpec } from './spec.ts'
export { csv, flag, int } from './query.ts'
export * as schemas from './schemas.ts'
export { allowedFrom, persistentStates, transientStates, type MachineAction, type MachineState } from './states.ts'
export * from './apps.ts'
export * from './checkpoints.ts'
export * from './files.ts'
export * from './machines.ts'
export * from './volumes.ts'

const isSpec = (v: unknown): v is OpSpec => typeof v === 'object' && v !== null && 'id' in v && 'method' in v && 'path' in v && 'params' in v

/** The whole catalogue, in declaration order. */
export const catalogue: readonly OpSpec[] = [apps, machines, checkpoints, volumes, files].flatMap((m) => Object.values(m).filter(isSpec))
