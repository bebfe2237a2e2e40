/**
 * From a machine config to what the runtime runs: the image (pulled when its
 * reference names a registry), its unpacked layers, the process and the guest size.
 *   const image = await resolveOrPull(ctx, config.image)
 *   await ctx.driver.create(await buildSpec(ctx, id, app, name, version, config, image, null))
 */
import type { ImageRecord } from '../images/types.ts'
import { parseImageRef, pullImage } from '../images/index.ts'
import type { MachineSpec } from '../runtime/types.ts'
import { isHangarError } from '../errors.ts'
import { guestOf } from './capacity.ts'
import type { Ctx } from './context.ts'
import { resolveProcess } from './process-spec.ts'
import { rootfsBytes, type MachineConfig } from '../ops/schemas.ts'

/** What the driver needs to make or reconfigure the machine: layers unpacked, process resolved, guest size. */
export async function buildSpec(ctx: Ctx, id: string, app: string, name: string, version: string, config: MachineConfig, image: ImageRecord, privateIp: string | null): Promise<MachineSpec> {
  const layers = await ctx.images.unpack(image)
  const guest = guestOf(config)
  return {
    id,
    layers,
    process: resolveProcess(config, image.config, { id, name, app, region: ctx.region, version, imageRef: image.ref, privateIp }),
    guest,
    stopSignal: (typeof config.stop_config?.signal === 'string' ? config.stop_config.signal : null) ?? image.config.stopSignal ?? 'SIGTERM',
    addressEnv: ['FLY_PRIVATE_IP'],
    // Fly's 6PN idea, per app: machines of one app reach each other, no other app's.
    group: app,
    ...(rootfsBytes(config.rootfs) ? { diskBytes: rootfsBytes(config.rootfs) as number } : {}),
    // The platform checked the ids (claimVolumes); the runtime knows where each volume lives.
    ...(config.mounts?.length ? { mounts: config.mounts.map((m) => ({ source: ctx.driver.volumes!.path(m.volume), destination: m.path })) } : {}),
    // The Machines API at /.fly/api, for this machine's own app (MachineApiHost).
    ...(ctx.machineApi ? { machineApi: true } : {}),
  }
}

/** Fly's image_ref, plus the image's exposed ports, which the proxy and machine_run use as the default service port. */
export function imageRef(image: ImageRecord): Record<string, unknown> {
  const p = parseImageRef(image.ref)
  return { registry: p.registry ?? '', repository: image.repository, tag: image.tag, digest: image.digest, labels: image.config.labels, exposed_ports: image.config.exposedPorts }
}

/** A pull's steps, kept to be written into the machine's event log once its row exists. */
export type PullLog = { timestamp: number; request: Record<string, unknown> }[]

/**
 * A local image, or, when the reference names a registry host and is not stored
 * yet, the image pulled from there. Each manifest and finished blob of the pull
 * goes into `log`, which create writes into the new machine's events.
 */
export async function resolveOrPull(ctx: Ctx, ref: string, log: PullLog = []): Promise<ImageRecord> {
  try {
    return await ctx.images.resolve(ref)
  } catch (e) {
    if (!isHangarError(e) || e.code !== 'image_not_found') throw e
    if (ctx.images.own.local(parseImageRef(ref)).registry === null) {
      // "debian" during the first start's base build: wait for it instead of failing.
      const building = ctx.imageBuilding(ref)
      if (!building) throw e
      await building
      return ctx.images.resolve(ref)
    }
    const started = Date.now()
    log.push({ timestamp: started, request: { image: ref, phase: 'started' } })
    const image = await pullImage(ctx.images, ref, {
      onProgress: (p) => {
        if (p.phase === 'manifest' || (p.phase === 'blob' && p.bytes !== undefined && p.bytes === p.total)) {
          log.push({ timestamp: Date.now(), request: { image: ref, phase: p.phase, message: p.message, ...(p.digest ? { digest: p.digest } : {}), ...(p.total !== undefined ? { bytes: p.total } : {}) } })
        }
      },
    })
    log.push({ timestamp: Date.now(), request: { image: ref, phase: 'done', digest: image.digest, bytes: image.size, ms: Date.now() - started } })
    return image
  }
}
