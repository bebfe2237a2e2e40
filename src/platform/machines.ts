/**
 * The machines service: every rule about machines lives here; REST and MCP only
 * translate. Each mutation runs under the machine's lock and checks its lease.
 *   const m = await platform.machines.create('myapp', { config: { image: 'busybox' } })
 *   await platform.machines.stop('myapp', m.id)
 */
import type { MachineRow } from '../store/index.ts'
import { HangarError, toHangarError } from '../errors.ts'
import { machineId, machineName, ulid } from '../lib/ids.ts'
import { type Ctx, loadMachine } from './context.ts'
import { guestOf } from './capacity.ts'
import type { Action } from './machine-state.ts'
import { mutateMachine, type Guard } from './mutate.ts'
import { runDestroy, runStart, runStop } from './lifecycle.ts'
import { buildSpec, imageRef, resolveOrPull, type PullLog } from './machine-spec.ts'
import { createMachine, updateMachine, type CreateMachineInput, type MachineConfig, type UpdateMachineInput } from '../ops/schemas.ts'
import { parse } from './validate.ts'
import { machineView, type MachineView } from './view.ts'
import { claimVolumes } from './volumes.ts'
import { bindSecrets, tidySecrets } from './secrets.ts'
import { assertServicePorts } from './service-ports.ts'


export interface CreateOptions {
  owner?: string
  /** A fork: the frozen disk (a checkpoint key) the machine starts from, and the checkpoint id it descends from. */
  seed?: { key: string; source: string | null }
}

export function machinesService(ctx: Ctx) {
  const { store, events, leases, queue, driver } = ctx

  const mutate = <T>(app: string, id: string, guard: Guard, action: Action, fn: (m: MachineRow) => Promise<T>): Promise<T> =>
    mutateMachine(ctx, app, id, guard, action, fn)

  /** Rewrites the bundle from the stored config, so the disk matches the row again after a failed update. */
  async function restoreBundle(m: MachineRow): Promise<void> {
    try {
      const config = m.config as MachineConfig
      await driver.reconfigure(await buildSpec(ctx, m.id, m.app_name, m.name, m.instance_id, config, await ctx.images.resolve(config.image), m.private_ip))
    } catch (e) {
      ctx.logger.error({ machine: m.id, err: String(e) }, 'could not restore the previous bundle after a failed update')
    }
  }

  /** update's work once the new size is held (when it will run): the machine keeps its old version if anything fails. */
  async function updateHeld(m: MachineRow, req: UpdateMachineInput, guard: Guard, opts: { owner?: string }, volumes: { commit(): void }): Promise<MachineView> {
    const { id, app_name: app } = m
    const image = await resolveOrPull(ctx, req.config.image)
    const version = ulid()
    const config: MachineConfig = { ...req.config, image: image.ref }
    const spec = await buildSpec(ctx, id, app, m.name, version, config, image, m.private_ip)
    // A disk the host cannot give is refused while the machine still runs as it was.
    driver.admitDisk?.(id, spec.diskBytes)
    // The app's secrets as they are now (an update is how a machine gets new values, as on Fly),
    // taken while the machine still runs as it was: a secret unset meanwhile cannot fail the update half-way.
    const secrets_version = bindSecrets(ctx, app, { ...req, config })
    const wasRunning = m.state === 'started' || m.state === 'suspended'
    if (wasRunning) await runStop(ctx, m, {}, 'user')
    const atRest = wasRunning ? 'stopped' : m.state
    events.transition(id, 'replacing')
    try {
      await driver.reconfigure(spec)
    } catch (e) {
      await restoreBundle(m)
      const err = toHangarError(e, 'runtime_error')
      events.transition(id, atRest, { type: 'update', source: 'user', request: { error: err.message } })
      throw new HangarError(err.code, `machine ${id} kept version ${m.instance_id}: the new config failed to apply: ${err.message}`, { cause: e })
    }
    store.tx(() => {
      volumes.commit()
      store.versions.insert(id, version, config, new Date().toISOString())
      events.transition(id, atRest, { type: 'update', source: 'user' }, { config, instance_id: version, image_ref: imageRef(image), restart_count: 0, secrets_version })
    })
    tidySecrets(ctx, app)
    if (!req.skip_launch) await runStart(ctx, store.machines.get(id)!, 'user')
    const updated = store.machines.get(id)!
    // lease_ttl takes (or, with the caller's nonce, refreshes) a lease, as on create.
    const nonce = req.lease_ttl
      ? leases.acquire(id, { ttl: req.lease_ttl, description: '', owner: opts.owner ?? 'root', version: updated.instance_id, ...(guard.nonce ? { heldNonce: guard.nonce } : {}) }).nonce
      : undefined
    return machineView(ctx, updated, nonce ? { nonce } : {})
  }

  /** create's work once its room is held: nothing runs until the row exists, and a failure leaves nothing behind. */
  async function createHeld(app: string, req: CreateMachineInput, id: string, name: string, opts: CreateOptions, volumes: { commit(): void }): Promise<MachineView> {
    const pullLog: PullLog = []
    const image = await resolveOrPull(ctx, req.config.image, pullLog)
    const version = ulid()
    const config: MachineConfig = { ...req.config, image: image.ref }
    const now = new Date().toISOString()
    // The driver fills FLY_PRIVATE_IP (spec.addressEnv): the address exists only once create has made the network.
    const spec = await buildSpec(ctx, id, app, name, version, config, image, null)
    const net = await driver.create(opts.seed ? { ...spec, diskSeed: opts.seed.key } : spec)
    try {
      // Listening before the machine first runs, so its first call to /.fly/api finds the socket.
      await ctx.machineApi?.open(id, app)
      store.tx(() => {
        if (store.machines.nameTaken(app, name)) throw new HangarError('name_taken', `a machine named ${name} already exists in app ${app}`)
        store.machines.insert({
          id, app_name: app, name, state: 'created', region: ctx.region, instance_id: version, config, image_ref: imageRef(image),
          private_ip: net.ipv4, private_ip6: net.ipv6, restart_count: 0, created_at: now, updated_at: now,
          // The app's secrets current at create: later changes reach the machine when it is updated.
          secrets_version: bindSecrets(ctx, app, { ...req, config }),
        })
        store.versions.insert(id, version, config, now)
        volumes.commit()
        if (opts.seed) store.checkpoints.setSource(id, opts.seed.source)
        for (const step of pullLog) events.record(id, 'pull', 'creating', 'flyd', step.request, step.timestamp)
        events.record(id, 'launch', 'created', 'user')
      })
    } catch (e) {
      ctx.machineApi?.close(id)
      await driver.destroy(id).catch(() => {})
      throw e
    }
    try {
      const nonce = req.lease_ttl ? leases.acquire(id, { ttl: req.lease_ttl, description: '', owner: opts.owner ?? 'root', version }).nonce : undefined
      if (!req.skip_launch) await queue.run(id, () => runStart(ctx, store.machines.get(id)!, 'user'))
      return machineView(ctx, store.machines.get(id)!, nonce ? { nonce } : {})
    } catch (e) {
      // Fly's launch_failed → destroyed: a create that cannot start leaves nothing behind.
      await queue.run(id, () => runDestroy(ctx, store.machines.get(id)!, 'flyd')).catch(() => {})
      throw e
    }
  }

  return {
    /** Creates a machine from an image; starts it unless skip_launch. A failure leaves nothing behind. */
    async create(app: string, input: unknown, opts: CreateOptions = {}): Promise<MachineView> {
      const req = parse(createMachine, input, 'machine request')
      if (!store.apps.get(app)) throw new HangarError('app_not_found', `app not found: ${app}`)
      assertServicePorts(ctx.tcpPorts ?? [], req.config)
      const name = req.name ?? machineName()
      if (store.machines.nameTaken(app, name)) throw new HangarError('name_taken', `a machine named ${name} already exists in app ${app}`)
      // Refused before anything is made; bound for good when the row is written.
      bindSecrets(ctx, app, req)
      ctx.disk.assertRoom()
      const id = machineId()
      // Held until the row says 'starting' or the create fails: two creates racing for the last room cannot both get it.
      const release = req.skip_launch ? () => {} : ctx.capacity.hold(id, guestOf(req.config))
      let volumes: ReturnType<typeof claimVolumes> | undefined
      try {
        volumes = claimVolumes(ctx, app, id, req.config.mounts)
        return await createHeld(app, req, id, name, opts, volumes)
      } catch (e) {
        throw ctx.disk.asDiskFull(e, `machine ${id} could not be created`) ?? e
      } finally {
        volumes?.release()
        release()
      }
    },

    get(app: string, id: string, opts: { includeLease?: boolean } = {}): MachineView {
      return machineView(ctx, loadMachine(ctx, app, id, true), opts)
    },

    list(app: string, filter: { states?: string[]; includeDestroyed?: boolean; metadata?: Record<string, string> } = {}): MachineView[] {
      if (!store.apps.get(app)) throw new HangarError('app_not_found', `app not found: ${app}`)
      return store.machines
        .list({ app, ...(filter.states ? { states: filter.states } : {}), ...(filter.includeDestroyed ? { includeDestroyed: true } : {}) })
        .filter((m) => Object.entries(filter.metadata ?? {}).every(([k, v]) => (m.config as MachineConfig).metadata?.[k] === v))
        .map((m) => machineView(ctx, m, { events: 0 }))
    },

    /** Every machine not destroyed, across apps, as rows: the edge proxy's route table is built from this once at boot. */
    allLive(): MachineRow[] {
      return store.machines.live()
    },

    /** Allowed from created, stopped, suspended, failed; a started machine is left as is. */
    start(app: string, id: string, guard: Guard = {}, opts: { requestId?: string } = {}): Promise<{ previous_state: string; migrated: false; new_host: '' }> {
      return mutate(app, id, guard, 'start', async (m) => {
        if (m.state !== 'started') await runStart(ctx, m, 'user', 'start', opts.requestId ? { request_id: opts.requestId } : undefined, true)
        return { previous_state: m.state, migrated: false, new_host: '' }
      })
    },

    /** Signal (default stop_config.signal, else the image's, else SIGTERM), grace period, then SIGKILL. No-op at rest. */
    stop(app: string, id: string, opts: { signal?: string | number; timeout?: string | number } = {}, guard: Guard = {}): Promise<{ ok: true }> {
      return mutate(app, id, guard, 'stop', async (m) => {
        await runStop(ctx, m, opts, 'user')
        return { ok: true }
      })
    },

    restart(app: string, id: string, opts: { signal?: string | number; timeout?: string | number } = {}, guard: Guard = {}): Promise<{ ok: true }> {
      return mutate(app, id, guard, 'restart', async (m) => {
        // Its room stays held while it is down, so another start cannot take it in between.
        const release = ctx.capacity.hold(id, guestOf(m.config))
        try {
          const stopped = await runStop(ctx, m, opts, 'user')
          await runStart(ctx, stopped, 'user', stopped === m ? 'start' : 'restart', undefined, true)
        } finally {
          release()
        }
        return { ok: true }
      })
    },

    signal(app: string, id: string, signal: string | number, guard: Guard = {}): Promise<{ ok: true }> {
      return mutate(app, id, guard, 'signal', async (m) => {
        await driver.signal(id, typeof signal === 'number' ? String(signal) : signal)
        return { ok: true }
      })
    },

    /** Freezes every process (cgroup freezer); memory stays resident until a snapshot-capable driver exists. */
    suspend(app: string, id: string, guard: Guard = {}): Promise<{ ok: true }> {
      return mutate(app, id, guard, 'suspend', async (m) => {
        if (m.state === 'started') {
          events.transition(id, 'suspending')
          try {
            await driver.freeze(id)
          } catch (e) {
            // It may have exited just now: say what the runtime sees, never stay 'suspending'.
            const alive = (await driver.inspect(id)).status === 'running'
            events.transition(id, alive ? 'started' : 'stopped', { type: 'suspend', source: 'user', request: { error: String(e) } })
            throw toHangarError(e, 'runtime_error')
          }
          events.transition(id, 'suspended', { type: 'suspend', source: 'user' })
        }
        return { ok: true }
      })
    },

    /** Replaces the whole config; a new version. A started machine restarts on the new config. */
    update(app: string, id: string, input: unknown, guard: Guard = {}, opts: { owner?: string } = {}): Promise<MachineView> {
      const req = parse(updateMachine, input, 'machine update')
      assertServicePorts(ctx.tcpPorts ?? [], req.config)
      return mutate(app, id, guard, 'update', async (m) => {
        if (req.current_version && req.current_version !== m.instance_id) {
          throw new HangarError('version_mismatch', `machine ${id} is at version ${m.instance_id}, not ${req.current_version}`)
        }
        if (req.name && req.name !== m.name) throw new HangarError('invalid_argument', `a machine's name cannot change (${m.name})`)
        // Refused before anything is touched (updateHeld binds again once the image is resolved).
        bindSecrets(ctx, app, req)
        ctx.disk.assertRoom()
        // Refused before the running machine is touched; its new size stays held until it starts again.
        const release = req.skip_launch ? () => {} : ctx.capacity.hold(id, guestOf(req.config))
        try {
          const volumes = claimVolumes(ctx, app, id, req.config.mounts)
          try {
            return await updateHeld(m, req, guard, opts, volumes)
          } finally {
            volumes.release()
          }
        } finally {
          release()
        }
      })
    },

    /** Without force only a machine at rest; with force anything but destroyed. */
    destroy(app: string, id: string, opts: { force?: boolean } = {}, guard: Guard = {}): Promise<{ ok: true }> {
      return mutate(app, id, guard, opts.force ? 'force_destroy' : 'destroy', async (m) => {
        await runDestroy(ctx, m, 'user')
        return { ok: true }
      })
    },

    versions(app: string, id: string): { version: string; user_config: Record<string, unknown> }[] {
      loadMachine(ctx, app, id, true)
      return store.versions.list(id).map((v) => ({ version: v.version, user_config: v.config }))
    },
  }
}

export type MachinesService = ReturnType<typeof machinesService>
