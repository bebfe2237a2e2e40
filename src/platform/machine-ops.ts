/**
 * Machine operations that are not state changes: exec, logs, events, leases,
 * metadata, waits. Same rules as machines.ts: validate, check, call the driver.
 */
import type { ConsoleSession, ExecResult, LogLine } from '../runtime/types.ts'
import { HangarError } from '../errors.ts'
import { type Ctx, loadMachine } from './context.ts'
import { assertCan } from './machine-state.ts'
import { acquireLease, execMachine, patchMetadata, waitQuery, type MachineConfig } from '../ops/schemas.ts'
import { parse } from './validate.ts'
import { waitForState, type WaitResult } from './waits.ts'
import type { MachineEventView } from './events.ts'
import type { LeaseView } from './leases.ts'
import type { Guard } from './mutate.ts'

export interface ExecOutput {
  exit_code: number
  exit_signal: string | null
  stdout: string
  stderr: string
  stdout_truncated: boolean
  stderr_truncated: boolean
  timed_out: boolean
}

function execView(r: ExecResult): ExecOutput {
  return {
    exit_code: r.exitCode, exit_signal: r.exitSignal, stdout: r.stdout, stderr: r.stderr,
    stdout_truncated: r.stdoutTruncated, stderr_truncated: r.stderrTruncated, timed_out: r.timedOut,
  }
}

export function machineOpsService(ctx: Ctx) {
  const { store, leases, driver } = ctx

  function setMetadata(app: string, id: string, change: (md: Record<string, string>) => void): void {
    const m = loadMachine(ctx, app, id)
    const config = m.config as MachineConfig
    const metadata = { ...(config.metadata ?? {}) }
    change(metadata)
    store.machines.update(id, { config: { ...config, metadata } })
  }

  return {
    /**
     * Runs a command in a started machine; output capped per stream, killed at the timeout, or
     * when `signal` aborts (the caller went away: a cancelled MCP call, a closed REST request).
     */
    async exec(app: string, id: string, input: unknown, guard: Guard = {}, opts: { signal?: AbortSignal } = {}): Promise<ExecOutput> {
      const req = parse(execMachine, input, 'exec request')
      const m = loadMachine(ctx, app, id)
      leases.check(id, guard.nonce)
      assertCan('exec', m.state, id)
      const cmd = req.command ?? ['/bin/sh', '-c', req.cmd as string]
      const r = await driver.exec(id, {
        cmd, timeoutMs: req.timeout * 1000, maxBytes: req.max_output_bytes, ...(req.stdin !== undefined ? { stdin: req.stdin } : {}), ...(opts.signal ? { signal: opts.signal } : {}),
      })
      return execView(r)
    },

    /** An interactive terminal (default /bin/sh) in a started machine; same lease rule as exec. */
    console(app: string, id: string, opts: { cmd?: string[]; cols?: number; rows?: number }, guard: Guard = {}): Promise<ConsoleSession> {
      const m = loadMachine(ctx, app, id)
      leases.check(id, guard.nonce)
      assertCan('exec', m.state, id)
      return driver.console(id, { cmd: opts.cmd?.length ? opts.cmd : ['/bin/sh'], cols: opts.cols ?? 80, rows: opts.rows ?? 24 })
    },

    logs(app: string, id: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): AsyncIterable<LogLine> {
      loadMachine(ctx, app, id, true)
      return driver.logs(id, opts)
    },

    events(app: string, id: string, limit = 20): MachineEventView[] {
      loadMachine(ctx, app, id, true)
      if (!Number.isInteger(limit) || limit < 1 || limit > 50) throw new HangarError('out_of_range', `limit must be 1–50, got ${limit}`)
      return ctx.events.list(id, limit)
    },

    wait(app: string, id: string, query: unknown, signal?: AbortSignal): Promise<WaitResult> {
      const q = parse(waitQuery, query, 'wait query')
      return waitForState(ctx, app, id, q.state, q.timeout * 1000, q.instance_id, signal)
    },

    acquireLease(app: string, id: string, input: unknown, opts: { owner: string; nonce?: string }): LeaseView {
      const req = parse(acquireLease, input ?? {}, 'lease request')
      const m = loadMachine(ctx, app, id)
      assertCan('lease', m.state, id)
      return leases.acquire(id, { ttl: req.ttl ?? 30, description: req.description ?? '', owner: opts.owner, version: m.instance_id, ...(opts.nonce ? { heldNonce: opts.nonce } : {}) })
    },

    getLease(app: string, id: string): LeaseView {
      loadMachine(ctx, app, id)
      return leases.get(id)
    },

    releaseLease(app: string, id: string, nonce: string | undefined): void {
      loadMachine(ctx, app, id)
      leases.release(id, nonce)
    },

    metadata(app: string, id: string): Record<string, string> {
      return { ...((loadMachine(ctx, app, id).config as MachineConfig).metadata ?? {}) }
    },

    getMetadataKey(app: string, id: string, key: string): { value: string } {
      const value = (loadMachine(ctx, app, id).config as MachineConfig).metadata?.[key]
      if (value === undefined) throw new HangarError('metadata_key_not_found', `metadata key not found: ${key}`)
      return { value }
    },

    /**
     * Sets many keys at once from `{metadata: {k: v}, machine_version?}`; an empty or null
     * value deletes the key (Fly's PATCH semantics); a stale machine_version is a 412.
     */
    patchMetadata(app: string, id: string, input: unknown): void {
      const req = parse(patchMetadata, input, 'metadata request')
      const current = loadMachine(ctx, app, id).instance_id
      if (req.machine_version && req.machine_version !== current) {
        throw new HangarError('version_mismatch', `machine ${id} is at version ${current}, not ${req.machine_version}`)
      }
      setMetadata(app, id, (md) => {
        for (const [k, v] of Object.entries(req.metadata)) {
          if (v === null || v === '') delete md[k]
          else md[k] = v
        }
      })
    },

    setMetadataKey(app: string, id: string, key: string, value: string): void {
      if (!key) throw new HangarError('invalid_argument', 'metadata key is empty')
      setMetadata(app, id, (md) => {
        md[key] = value
      })
    },

    deleteMetadataKey(app: string, id: string, key: string): void {
      setMetadata(app, id, (md) => {
        delete md[key]
      })
    },
  }
}

export type MachineOpsService = ReturnType<typeof machineOpsService>
