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
export type Check = (access: { action: Action; app?: string; machine?: string; listing?: 'apps' | 'machines'; about?: 'tokens' | 'tokenizer' }) => void

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
  const i = inner.images
  const s = inner.secrets
  return {
    // Minting checks narrowing itself (a new token carries these caveats and more).
    tokens: {
      async create(req) {
        check({ action: 'tokens', about: 'tokens' })
        return inner.tokens.create(req)
      },
    },
    // Sealing touches no app or machine: it needs the secrets action, as POST /v1/tokenizer/seal does.
    tokenizer: {
      async seal(secret) {
        check({ action: 'secrets', about: 'tokenizer' })
        return inner.tokenizer.seal(secret)
      },
      async info() {
        check({ action: 'read', about: 'tokenizer' })
        return inner.tokenizer.info()
      },
    },
    machines: {
      logs: on('read', m.logs.bind(m)),
    },
    // Secrets belong to an app and need their own action, reading the list included.
    secrets: {
      list: onApp('secrets', s.list.bind(s)),
      update: onApp('secrets', s.update.bind(s)),
    },
    // A declared operation: its declaration says what it needs; app and machine come from its params.
    // Lists are filtered to what the token reaches by the binding itself (platform/operations.ts).
    async run(spec, params, input, call) {
      const p = params as { app?: string; id?: string }
      const machine = 'id' in spec.params.shape ? p.id : undefined
      check({
        action: spec.access.action, ...(p.app !== undefined ? { app: p.app } : {}), ...(machine !== undefined ? { machine } : {}),
        ...(spec.access.listing ? { listing: spec.access.listing } : {}), ...(spec.access.about ? { about: spec.access.about } : {}),
      })
      return inner.run(spec, params, input, call)
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
