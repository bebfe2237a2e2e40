/**
 * The service layer: every rule about apps and machines. REST, MCP and the
 * dashboard are thin adapters over what this returns.
 *   const platform = await createPlatform({ store, driver, images, logger, region: 'local', tokenKey, secretsKey, … })
 *   const m = await platform.machines.create('myapp', { config: { image: 'busybox' } })
 */
import { appsService } from './apps.ts'
import { createCtx, type MachineApiHost, type PlatformDeps } from './context.ts'
import { handleExit, reconcile } from './exits.ts'
import { imagesService, machinesInUse } from './images.ts'
import { idempotencyService } from './idempotency.ts'
import { machineOpsService } from './machine-ops.ts'
import { machinesService } from './machines.ts'
import { resettle, resettleAll } from './settle.ts'
import { tokensService } from './tokens.ts'
import { networkPolicyService } from './network-policy.ts'
import { checkpointsService } from './checkpoints.ts'
import { filesService } from './files.ts'
import { volumesService } from './volumes.ts'
import { tokenizerService } from './tokenizer.ts'
import { egressJudge } from './egress.ts'
import { secretsService } from './secrets.ts'

export type { MachineApiHost, PlatformDeps } from './context.ts'
export type { Caller, TokenView } from './tokens.ts'
export { createTokenSchema } from './tokens.ts'
export { sealSchema } from './tokenizer.ts'
export type { SealInput, TokenizerDeps, TokenizerInfo } from './tokenizer.ts'
export type { EgressJudgement } from './egress.ts'
export type { CheckView, MachineView } from './view.ts'
import type { CheckView } from './view.ts'
export type { AppView } from './apps.ts'
export type { ExecOutput } from './machine-ops.ts'
export type { LeaseView } from './leases.ts'
export type { MachineEventView, StateChange } from './events.ts'
export type { WaitResult } from './waits.ts'
export type { Guard } from './mutate.ts'
export { buildBaseSchema, pullSchema, pushSchema } from './images.ts'
export { networkPolicySchema } from './network-policy.ts'
export { checkpointSchema, forkSchema, MAX_FORKS } from './checkpoints.ts'
export type { CheckpointView, Progress, RestoreResult } from './checkpoints.ts'
export { createVolumeSchema, extendVolumeSchema, updateVolumeSchema } from '../ops/volumes.ts'
export type { VolumeSnapshotView, VolumeView } from '../ops/volumes.ts'
export { setSecretSchema, updateSecretsSchema } from './secrets.ts'
export { SecretBox } from './secrets-crypto.ts'
export type { SecretsQuery, SecretView } from './secrets.ts'
export { fsChmodSchema, fsChownSchema, fsCopySchema, fsDeleteSchema, fsListSchema, fsReadSchema, fsRenameSchema, fsWriteSchema, listLimits } from './files.ts'
export type { FileEntryView, FilesService, ListView } from './files.ts'
export type { NetworkPolicyView } from './network-policy.ts'
export type { BuildBaseInput, ImagesService } from './images.ts'
export type { BuildProgress, PullProgress, PushProgress, PushResult } from '../images/index.ts'
export * as schemas from '../ops/schemas.ts'

const diskWatchMs = 1000

/** Builds the services, adopts what the runtime already runs, and starts listening for exits. */
export async function createPlatform(deps: PlatformDeps) {
  const ctx = createCtx(deps)
  ctx.resettle = (id, how) => resettle(ctx, id, how)
  const stopExitFeed = deps.driver.onExit((id, exit) => {
    handleExit(ctx, id, exit).catch((e) => {
      // The exit happened whether or not its row could be written: read it back from the runtime later.
      deps.logger.error({ machine: id, err: String(e) }, 'exit handling failed')
      ctx.resettle(id)
    })
  })
  // conmon cannot write an exit file on a full disk either: once there is room, every machine is read back.
  ctx.disk.watch(diskWatchMs, () => {
    deps.logger.info({ data_dir: ctx.disk.dir }, 'the data disk has room again; reading every machine back from the runtime')
    resettleAll(ctx)
  })
  const images = imagesService(deps.images, { inUse: () => machinesInUse(deps.store, deps.driver) })
  ctx.imageBuilding = (ref) => images.building(ref)
  const reconciled = await reconcile(ctx)
  deps.logger.info(reconciled, 'reconciled machines with the runtime')
  // Creates take an idempotency key (REST Idempotency-Key, MCP idempotency_key): a
  // retried request gets the first result back instead of a second app or machine.
  const idempotency = idempotencyService(deps.store)
  const apps = appsService(ctx)
  const machines = machinesService(ctx)
  const egress = egressJudge(ctx)
  const networkPolicy = networkPolicyService(ctx, (app) => egress.forget(app))
  const checkpoints = checkpointsService(ctx, {
    create: (app, input, o) => machines.create(app, input, o),
    destroy: (app, id, o) => machines.destroy(app, id, o),
    retention: deps.checkpointRetention ?? 20,
  })
  const swept = await checkpoints.sweep()
  if (swept) deps.logger.warn({ removed: swept }, 'removed frozen disks no checkpoint names (left by a crash)')
  const volumes = volumesService(ctx)
  const sweptVolumes = await volumes.sweep()
  if (sweptVolumes) deps.logger.warn({ removed: sweptVolumes }, 'removed volumes and snapshots no row names (left by a crash)')
  await networkPolicy.pushAll()
  return {
    apps: {
      ...apps,
      create: (input: unknown, o: { idempotencyKey?: string } = {}) => idempotency.run('apps.create', o.idempotencyKey, input, () => apps.create(input)),
    },
    machines: {
      ...machines,
      ...machineOpsService(ctx),
      create: (app: string, input: unknown, o: { owner?: string; idempotencyKey?: string } = {}) =>
        idempotency.run(`machines.create:${app}`, o.idempotencyKey, input, () => machines.create(app, input, o)),
    },
    networkPolicy,
    checkpoints,
    /** Volumes: sized filesystems of an app that outlive machines (Fly's shape). */
    volumes,
    /** App secrets: write-only values, listed by name and digest, given to machines at start (Fly's shape). */
    secrets: secretsService(ctx),
    /** Files in a machine, running or stopped (Sprites' filesystem API). */
    files: filesService(ctx),
    tokens: tokensService(deps.store, deps.tokenKey),
    /** Sealing secrets for the tokenizer (the proxy itself runs in the daemon, outside every machine). */
    tokenizer: {
      ...tokenizerService(deps.tokenizer),
      /** What the sender's app's egress policy says of a host the tokenizer is asked to reach (null: no rules). */
      judgeEgress: (source: string, hostname: string) => egress.judge(source, hostname),
    },
    images,
    events: { subscribe: ctx.events.subscribe.bind(ctx.events) },
    capabilities: deps.driver.capabilities,
    /** What running machines may reserve together, and what they reserve now. */
    capacity: () => ({ limit: { memory_mb: ctx.capacity.memoryMb, cpus: ctx.capacity.cpus }, reserved: ctx.capacity.reserved() }),
    reconciled,
    /** Where machine views get their health checks from (the edge proxy runs them). */
    reportChecks(source: (machineId: string) => CheckView[] | undefined): void {
      ctx.checks = source
    },
    /**
     * Gives every machine its API socket from now on (/.fly/api: the Machines API for its own app), and
     * opens one for each machine that exists. Machines made before get it mounted at their next update.
     */
    async serveMachineApi(host: MachineApiHost): Promise<void> {
      ctx.machineApi = host
      for (const m of deps.store.machines.live()) {
        await host.open(m.id, m.app_name).catch((e: unknown) => deps.logger.warn({ machine: m.id, err: String(e) }, 'could not open the machine\'s API socket'))
      }
    },
    /** Stops listening; machines keep running. */
    close(): void {
      stopExitFeed()
      images.close()
      for (const t of ctx.pendingRestarts.values()) clearTimeout(t)
      for (const u of ctx.unsettled.values()) clearTimeout(u.timer)
      ctx.disk.close()
    },
  }
}

export type Platform = Awaited<ReturnType<typeof createPlatform>>
