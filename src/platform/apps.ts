/**
 * Apps group machines under one name (and, with the proxy, one hostname).
 *   platform.apps.create({ app_name: 'myapp', org_slug: 'personal' })
 */
import { HangarError } from '../errors.ts'
import { ulid } from '../lib/ids.ts'
import type { AppRow } from '../store/index.ts'
import { cancelPendingRestart, type Ctx } from './context.ts'
import { runDestroy } from './lifecycle.ts'
import { canDo } from './machine-state.ts'
import { createApp } from '../ops/schemas.ts'
import { parse } from './validate.ts'
import { dropAppVolumes } from './volumes.ts'

export interface AppView {
  id: string
  name: string
  status: 'deployed' | 'pending'
  network: string
  machine_count: number
  volume_count: number
  organization: { name: string; slug: string }
  created_at: string
}

export function appsService(ctx: Ctx) {
  const { store } = ctx

  function view(a: AppRow): AppView {
    const n = store.machines.countByApp(a.name)
    return {
      id: a.id, name: a.name, status: n > 0 ? 'deployed' : 'pending', network: a.network, machine_count: n, volume_count: store.volumes.list(a.name).length,
      organization: { name: a.org_slug, slug: a.org_slug }, created_at: a.created_at,
    }
  }

  function load(name: string): AppRow {
    const a = store.apps.get(name)
    if (!a) throw new HangarError('app_not_found', `app not found: ${name}`)
    return a
  }

  return {
    create(input: unknown): AppView {
      const req = parse(createApp, input, 'app request')
      if (store.apps.get(req.name)) throw new HangarError('name_taken', `an app named ${req.name} already exists`)
      const row: AppRow = { id: ulid(), name: req.name, org_slug: req.org_slug, network: req.network, created_at: new Date().toISOString() }
      store.apps.insert(row)
      return view(row)
    },

    get(name: string): AppView {
      return view(load(name))
    },

    list(org?: string): { total_apps: number; apps: AppView[] } {
      const apps = store.apps.list(org).map(view)
      return { total_apps: apps.length, apps }
    },

    /** Destroys the app's machines too; without force, refuses while any is running. */
    async destroy(name: string, opts: { force?: boolean } = {}): Promise<void> {
      load(name)
      const machines = store.machines.list({ app: name })
      const busy = machines.filter((m) => !canDo('destroy', m.state))
      if (busy.length && !opts.force) {
        throw new HangarError('app_not_empty', `app ${name} has ${busy.length} running machine(s): ${busy.map((m) => m.id).join(', ')}`)
      }
      // Each machine under its own lock, its state read again there: one started since
      // the check above is refused (without force) rather than killed.
      for (const m of machines) {
        await ctx.queue.run(m.id, async () => {
          const now = store.machines.get(m.id)
          if (!now || now.state === 'destroyed') return
          if (!opts.force && !canDo('destroy', now.state)) {
            throw new HangarError('app_not_empty', `app ${name}: machine ${m.id} is ${now.state}; stop it or pass force=true`)
          }
          cancelPendingRestart(ctx, m.id)
          await runDestroy(ctx, now, 'user')
        })
      }
      const late = store.machines.list({ app: name })
      if (late.length) throw new HangarError('app_not_empty', `app ${name} got ${late.length} new machine(s) while being destroyed: ${late.map((m) => m.id).join(', ')}`)
      // Volumes belong to the app: they go with it, after the machines that mounted them.
      await dropAppVolumes(ctx, name)
      // Recorded with the time: tokens that named this app must not reach a new app given its name.
      store.tx(() => store.apps.delete(name, new Date().toISOString()))
      // Its egress rules go with it (the row went by cascade): a new app of that name starts on the defaults.
      await ctx.driver.setEgressPolicy?.(name, [])
    },
  }
}

export type AppsService = ReturnType<typeof appsService>
