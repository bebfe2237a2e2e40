/**
 * A checkpoint's parts kept in step between the runtime and the store: the
 * frozen disk and the snapshots of the volumes the machine mounted, taken at
 * one instant, recorded in one transaction once all exist, and removed from the
 * runtime before their rows go (so a crash leaves only unrecorded frozen data,
 * which the sweeps at start remove). Used by checkpoints, forks and destroy.
 */
import { HangarError } from '../errors.ts'
import type { DriverCheckpoints, VolumeSnapshotRequest } from '../runtime/index.ts'
import type { CheckpointRow, MachineRow } from '../store/index.ts'
import type { Ctx } from './context.ts'
import type { MachineConfig } from '../ops/schemas.ts'
import { snapshotId } from './volumes.ts'
import { GiB } from '../rootfs/index.ts'


export function checkpointRuntime(ctx: Ctx): DriverCheckpoints {
  const cps = ctx.driver.checkpoints
  if (!cps) throw new HangarError('unavailable', `the ${ctx.driver.name} runtime keeps no checkpoints`, { hint: 'run the daemon with the runc driver' })
  return cps
}

/** The volumes the machine mounts (that still exist), each with the id its snapshot will get. */
export function volumeRequests(ctx: Ctx, m: MachineRow): VolumeSnapshotRequest[] {
  return ((m.config as MachineConfig).mounts ?? []).filter((x) => ctx.store.volumes.get(x.volume)).map((x) => ({ volume: x.volume, snapshot: snapshotId() }))
}

/** Freezes the machine's disk under `key` with its volumes; records the volume snapshots with `record` in one transaction, or takes everything back. */
export async function capture(ctx: Ctx, m: MachineRow, key: string, record: (sizeBytes: number, volumes: VolumeSnapshotRequest[]) => void): Promise<number> {
  const cps = checkpointRuntime(ctx)
  const requests = volumeRequests(ctx, m)
  const taken = await cps.capture(m.id, key, requests)
  try {
    ctx.store.tx(() => {
      const now = new Date().toISOString()
      for (const [i, v] of taken.volumes.entries()) {
        const volume = requests[i]!.volume
        ctx.store.volumes.insertSnapshot({ id: v.snapshot, volume_id: volume, created_at: now, size: v.sizeBytes, digest: `btrfs:${v.uuid}`, volume_size: ctx.store.volumes.get(volume)!.size_gb * GiB })
      }
      record(taken.sizeBytes, requests)
    })
  } catch (e) {
    await dropFrozen(ctx, key, requests.map((r) => r.snapshot))
    throw e
  }
  return taken.sizeBytes
}

/** Removes frozen data from the runtime (never recorded, or about to lose its rows). */
export async function dropFrozen(ctx: Ctx, key: string | null, snapshots: string[]): Promise<void> {
  for (const s of snapshots) await ctx.driver.volumes?.removeSnapshot(s).catch(() => {})
  if (key) await checkpointRuntime(ctx).remove(key).catch(() => {})
}

/** A checkpoint and its volume snapshots: gone from the runtime first, then from the store. */
export async function removeCheckpoint(ctx: Ctx, row: CheckpointRow): Promise<void> {
  const snapshots = ctx.store.checkpoints.volumes(row.machine_id, row.id).map((l) => l.snapshot_id).filter((s) => ctx.store.volumes.snapshot(s))
  for (const s of snapshots) await ctx.driver.volumes!.removeSnapshot(s)
  await checkpointRuntime(ctx).remove(row.key)
  ctx.store.tx(() => {
    for (const s of snapshots) ctx.store.volumes.deleteSnapshot(s)
    ctx.store.checkpoints.delete(row.machine_id, row.id)
  })
}

/** The checkpoint's volume snapshots that still exist, by volume. */
export function checkpointVolumes(ctx: Ctx, row: CheckpointRow): Map<string, string> {
  return new Map(ctx.store.checkpoints.volumes(row.machine_id, row.id).filter((l) => ctx.store.volumes.snapshot(l.snapshot_id)).map((l) => [l.volume_id, l.snapshot_id]))
}
