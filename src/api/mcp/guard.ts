/**
 * A Backend that checks the session token's caveats before each call: the tools and resources
 * stay as they are, and whatever they reach goes through here. Lists are filtered to what the
 * token reaches; anything else it may not do throws caveat_denied, which a tool returns as an
 * error result naming the caveat.
 *   const backend = guardedBackend(platformBackend(platform, caller), { caveats: caller.caveats, app: (a) => platform.tokens.mayReachApp(caller, a) }, (access) => platform.tokens.authorize(caller, access))
 */
import { mayReachMachine, type Action, type Caveat } from '../../auth/index.ts'
import type { Backend } from './backend.ts'

/** Throws unless the token allows this; app and machine as the call names them. */
export type Check = (access: { action: Action; app?: string; machine?: string; listing?: 'apps' | 'machines'; about?: 'tokens' }) => void

/** What list filters ask of the token: its caveats (machines), and whether it reaches an app (which needs the app's past). */
export interface Reach {
  caveats: readonly Caveat[]
  app(name: string): boolean
}

export function guardedBackend(inner: Backend, reach: Reach, check: Check): Backend {
  const { caveats } = reach
  const on = <A extends unknown[], R>(action: Action, fn: (app: string, id: string, ...rest: A) => Promise<R>) =>
    async (app: string, id: string, ...rest: A): Promise<R> => {
      check({ action, app, machine: id })
      return fn(app, id, ...rest)
    }
  const onApp = <A extends unknown[], R>(action: Action, fn: (app: string, ...rest: A) => Promise<R>) =>
    async (app: string, ...rest: A): Promise<R> => {
      check({ action, app })
      return fn(app, ...rest)
    }
  const m = inner.machines
  const c = inner.checkpoints
  const f = inner.files
  const v = inner.volumes
  const i = inner.images
  return {
    // Minting checks narrowing itself (a new token carries these caveats and more).
    tokens: {
      async create(req) {
        check({ action: 'tokens', about: 'tokens' })
        return inner.tokens.create(req)
      },
    },
    apps: {
      async list() {
        check({ action: 'read', listing: 'apps' })
        return (await inner.apps.list()).filter((a) => reach.app(a.name))
      },
      get: onApp('read', inner.apps.get.bind(inner.apps)),
      create: onApp('create', inner.apps.create.bind(inner.apps)),
      destroy: onApp('delete', inner.apps.destroy.bind(inner.apps)),
    },
    machines: {
      async list(app) {
        check({ action: 'read', app, listing: 'machines' })
        return (await m.list(app)).filter((x) => mayReachMachine(caveats, x.id))
      },
      async create(app, req, opts) {
        check({ action: 'create', app })
        return m.create(app, req, opts)
      },
      get: on('read', m.get.bind(m)),
      update: on('write', m.update.bind(m)),
      start: on('write', m.start.bind(m)),
      stop: on('write', m.stop.bind(m)),
      restart: on('write', m.restart.bind(m)),
      destroy: on('delete', m.destroy.bind(m)),
      wait: on('read', m.wait.bind(m)),
      exec: on('exec', m.exec.bind(m)),
      logs: on('read', m.logs.bind(m)),
      events: on('read', m.events.bind(m)),
    },
    checkpoints: {
      create: on('write', c.create.bind(c)),
      list: on('read', c.list.bind(c)),
      delete: on('delete', c.delete.bind(c)),
      restore: on('write', c.restore.bind(c)),
      fork: on('create', c.fork.bind(c)),
    },
    // Volumes belong to an app, not to a machine: an app's caveat decides.
    volumes: {
      create: onApp('create', v.create.bind(v)),
      list: onApp('read', v.list.bind(v)),
      extend: onApp('write', v.extend.bind(v)),
      snapshot: onApp('write', v.snapshot.bind(v)),
      destroy: onApp('delete', v.destroy.bind(v)),
    },
    // Files are exec: reading a machine's files is as good as running a command in it.
    files: {
      read: on('exec', f.read.bind(f)),
      write: on('exec', f.write.bind(f)),
      list: on('exec', f.list.bind(f)),
      delete: on('exec', f.delete.bind(f)),
      rename: on('exec', f.rename.bind(f)),
    },
    // Images belong to no app: an apps caveat refuses them, as on REST.
    images: {
      async list() {
        check({ action: 'read' })
        return i.list()
      },
      async get(ref) {
        check({ action: 'read' })
        return i.get(ref)
      },
      async importFile(path, opts) {
        check({ action: 'images' })
        return i.importFile(path, opts)
      },
      async buildBase(opts, onProgress) {
        check({ action: 'images' })
        return i.buildBase(opts, onProgress)
      },
      async pull(ref, onProgress, signal) {
        check({ action: 'images' })
        return i.pull(ref, onProgress, signal)
      },
    },
  }
}
