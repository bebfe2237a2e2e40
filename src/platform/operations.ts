/**
 * Each declared operation (src/ops) bound to the service call that does it, type-checked against
 * the declaration: the service must answer what the operation promises. REST and MCP run
 * declared operations only through here, so their rules stay in the services, once.
 *   const run = operationsOf(platform).get('checkpoint.create')!.run
 *   await run({ app, id }, { comment: 'green' }, { nonce })
 */
import type { Readable } from 'node:stream'
import type { z } from 'zod'
import * as ops from '../ops/index.ts'
import type { OpResult, OpSpec } from '../ops/index.ts'
import type { Progress } from './checkpoints.ts'
import type { Platform } from './index.ts'
import type { Caller } from './tokens.ts'
import { mayReachMachine } from '../auth/index.ts'
import { parse } from './validate.ts'

/** What a caller brings besides params and input. */
export interface Call {
  /** Who calls: a machine's owner is its name; lists keep what its token reaches. */
  caller?: Caller
  /** The lease nonce the caller holds (fly-machine-lease-nonce). */
  nonce?: string
  /** For `idempotent` operations: a retry with the same key gets the first result back. */
  idempotencyKey?: string
  progress?: Progress
  signal?: AbortSignal
  /** The raw body of a `bytes: 'in'` operation. */
  body?: Readable | null
}

/** A `bytes: 'out'` operation's answer: the stream, its content type and headers. */
export interface ByteAnswer {
  stream: Readable
  type: string
  headers?: Record<string, string>
}

export type Answer<S extends OpSpec> = S['bytes'] extends 'out' ? ByteAnswer : OpResult<S>
/** Input stays unknown here: the service parses it with the declaration's own schema. */
export type Run<S extends OpSpec> = (params: z.output<S['params']>, input: unknown, call: Call) => Promise<Answer<S>> | Answer<S>

export interface Bound<S extends OpSpec = OpSpec> {
  spec: S
  run: Run<S>
}

const bind = <S extends OpSpec>(spec: S, run: Run<S>): Bound => ({ spec, run: run as unknown as Run<OpSpec> })
const guard = (c: Call): { nonce?: string } => (c.nonce ? { nonce: c.nonce } : {})
const key = (c: Call): { idempotencyKey?: string } => (c.idempotencyKey ? { idempotencyKey: c.idempotencyKey } : {})
const owner = (c: Call): { owner?: string } => (c.caller ? { owner: c.caller.name } : {})

/** metadata.{key}=value filters, ANDed. */
function metadataFilter(input: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(input).filter(([k, v]) => k.startsWith('metadata.') && typeof v === 'string').map(([k, v]) => [k.slice(9), v as string]))
}

function bindAll(platform: Platform): Bound[] {
  const { apps, machines: pm, checkpoints: cps, volumes: vols, files } = platform
  return [
    bind(ops.appList, (_, input, c) => {
      const q = parse(ops.appList.input, input ?? {}, 'app list query')
      // An apps caveat is dated: an app deleted after it named the app is not the one it meant.
      const all = apps.list(q.org_slug).apps.filter((a) => !c.caller || platform.tokens.mayReachApp(c.caller, a.name))
      return { total_apps: all.length, apps: all }
    }),
    bind(ops.appCreate, (_, input, c) => apps.create(input, key(c))),
    bind(ops.appGet, ({ app }) => apps.get(app)),
    bind(ops.appDestroy, ({ app }, input) => apps.destroy(app, { force: parse(ops.appDestroy.input, input ?? {}, 'query').force ?? false })),
    bind(ops.appPolicyGet, ({ app }) => platform.networkPolicy.get(app)),
    bind(ops.appPolicySet, ({ app }, input) => platform.networkPolicy.set(app, input)),

    bind(ops.machineList, ({ app }, input, c) => {
      const q = parse(ops.machineList.input, input ?? {}, 'machine list query')
      const all = pm.list(app, { ...(q.state?.length ? { states: q.state } : {}), includeDestroyed: q.include_deleted ?? false, metadata: metadataFilter(q) })
      return all.filter((m) => mayReachMachine(c.caller?.caveats ?? [], m.id))
    }),
    bind(ops.machineCreate, ({ app }, input, c) => pm.create(app, input, { ...owner(c), ...key(c) })),
    bind(ops.machineGet, ({ app, id }, input) => pm.get(app, id, { includeLease: parse(ops.machineGet.input, input ?? {}, 'query').include_leases ?? false })),
    bind(ops.machineUpdate, ({ app, id }, input, c) => pm.update(app, id, input, guard(c), owner(c))),
    bind(ops.machineDestroy, ({ app, id }, input, c) => {
      const q = parse(ops.machineDestroy.input, input ?? {}, 'query')
      return pm.destroy(app, id, { force: (q.force ?? false) || (q.kill ?? false) }, guard(c))
    }),
    bind(ops.machineStart, ({ app, id }, _, c) => pm.start(app, id, guard(c))),
    bind(ops.machineStop, ({ app, id }, input, c) => pm.stop(app, id, parse(ops.machineStop.input, input ?? {}, 'stop request'), guard(c))),
    bind(ops.machineRestart, ({ app, id }, input, c) => pm.restart(app, id, parse(ops.machineRestart.input, input ?? {}, 'restart request'), guard(c))),
    bind(ops.machineSignal, ({ app, id }, input, c) => pm.signal(app, id, parse(ops.machineSignal.input, input, 'signal request').signal, guard(c))),
    bind(ops.machineSuspend, ({ app, id }, _, c) => pm.suspend(app, id, guard(c))),
    bind(ops.machineVersions, ({ app, id }) => pm.versions(app, id)),
    bind(ops.machineWait, ({ app, id }, input, c) => pm.wait(app, id, input ?? {}, c.signal)),
    bind(ops.machineExec, ({ app, id }, input, c) => pm.exec(app, id, input, guard(c), c.signal ? { signal: c.signal } : {})),
    bind(ops.machineEvents, ({ app, id }, input) => pm.events(app, id, parse(ops.machineEvents.input, input ?? {}, 'events query').limit ?? 20)),

    bind(ops.checkpointCreate, ({ app, id }, input, c) => cps.create(app, id, input, guard(c), c.progress)),
    bind(ops.checkpointList, ({ app, id }) => cps.list(app, id)),
    bind(ops.checkpointGet, ({ app, id, cp }) => cps.get(app, id, cp)),
    bind(ops.checkpointDelete, ({ app, id, cp }, _, c) => cps.delete(app, id, cp, guard(c))),
    bind(ops.checkpointRestore, ({ app, id, cp }, _, c) => cps.restore(app, id, cp, guard(c), c.progress)),
    bind(ops.machineFork, ({ app, id }, input, c) => cps.fork(app, id, input, guard(c))),

    bind(ops.volumeList, ({ app }) => vols.list(app)),
    bind(ops.volumeCreate, ({ app }, input) => vols.create(app, input)),
    bind(ops.volumeGet, ({ app, vid }) => vols.get(app, vid)),
    bind(ops.volumeUpdate, ({ app, vid }, input) => vols.update(app, vid, input)),
    bind(ops.volumeDestroy, ({ app, vid }) => vols.destroy(app, vid)),
    bind(ops.volumeExtend, ({ app, vid }, input) => vols.extend(app, vid, input)),
    bind(ops.volumeSnapshots, ({ app, vid }) => vols.snapshots(app, vid)),
    bind(ops.volumeSnapshot, ({ app, vid }) => vols.snapshot(app, vid)),

    bind(ops.fsRead, async ({ app, id }, input) => {
      const r = await files.read(app, id, input)
      return { stream: r.stream, type: 'application/octet-stream', headers: { 'x-file-mode': r.mode, 'x-file-size': String(r.size) } }
    }),
    bind(ops.fsWrite, ({ app, id }, input, c) => files.write(app, id, input, c.body ?? null)),
    bind(ops.fsList, ({ app, id }, input) => files.list(app, id, input)),
    bind(ops.fsDelete, ({ app, id }, input) => files.delete(app, id, input)),
    bind(ops.fsRename, ({ app, id }, input) => files.rename(app, id, input)),
    bind(ops.fsCopy, ({ app, id }, input) => files.copy(app, id, input)),
    bind(ops.fsChmod, ({ app, id }, input) => files.chmod(app, id, input)),
    bind(ops.fsChown, ({ app, id }, input) => files.chown(app, id, input)),
    bind(ops.fsTarDown, async ({ app, id }, input) => ({ stream: (await files.tarDown(app, id, input)).stream, type: 'application/x-tar' })),
    bind(ops.fsTarUp, ({ app, id }, input, c) => files.tarUp(app, id, input, c.body ?? null)),
  ]
}

const cache = new WeakMap<Platform, Map<string, Bound>>()

/** The bound operations of a platform, by declaration id. */
export function operationsOf(platform: Platform): Map<string, Bound> {
  let m = cache.get(platform)
  if (!m) {
    m = new Map(bindAll(platform).map((b) => [b.spec.id, b]))
    cache.set(platform, m)
  }
  return m
}
