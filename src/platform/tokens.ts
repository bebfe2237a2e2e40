/**
 * API tokens: who a request comes from, and what its token lets it do.
 * Two kinds: the opaque root token (only its SHA-256 is stored; written once to
 * <data-dir>/root-token) reaches everything; macaroons (src/auth) carry caveats,
 * are verified with the root key in <data-dir>/token-key, and are revoked by id.
 *
 *   const caller = tokens.authenticate(header, { source: '127.0.0.1' })
 *   tokens.authorize(caller, { app: 'web', action: 'read' }, source)   // throws caveat_denied
 */
import { createHash, randomBytes } from 'node:crypto'
import { z } from 'zod'
import { actions, checkCaveats, mayDo, mayReachApp, mayReachMachine, mint, newTokenId, restrictionCaveats, tokenPrefix, verifyMacaroon, type Access, type Caveat, type Macaroon } from '../auth/index.ts'
import { HangarError } from '../errors.ts'
import { parseDurationMs } from '../lib/duration.ts'
import { ulid } from '../lib/ids.ts'
import { parse } from './validate.ts'
import type { MacaroonRow, Store } from '../store/index.ts'

const generate = (): string => `hgr_${randomBytes(32).toString('base64url')}`

const hash = (token: string): string => createHash('sha256').update(token).digest('hex')

/** Who is calling: the opaque root token has no caveats; a macaroon's are every caveat it carries, minted and appended. */
export interface Caller {
  /** The token's id: a macaroon's (shared by its offline attenuations), or the opaque token's row id. */
  id: string
  /** Shown as a machine's owner: "root", or the macaroon's description. */
  name: string
  /** `machine`: a machine's own identity on its API socket (machineCaller), never a token string. */
  kind: 'opaque' | 'macaroon' | 'machine'
  caveats: Caveat[]
  /** Unix seconds: when the token was minted (the `as_of` of its apps caveats that carry none). */
  issuedAt?: number
}

export const createTokenSchema = z.strictObject({
  apps: z.array(z.string().min(1).max(256)).min(1).max(256).optional(),
  machines: z.array(z.string().min(1).max(256)).min(1).max(256).optional(),
  actions: z.array(z.enum(actions)).min(1).optional(),
  /** Seconds, or a Go duration ("1h", "90m"). */
  expires_in: z.union([z.number().positive().max(10 * 365 * 86400), z.string().min(1)]).optional(),
  /** CIDR blocks the token may be used from. */
  sources: z.array(z.string().min(1).max(64)).min(1).max(64).optional(),
  description: z.string().max(200).optional(),
})

export interface TokenView {
  id: string
  parent_id: string | null
  description: string
  caveats: Caveat[]
  created_at: string
  last_used_at: string | null
  revoked_at: string | null
}

const view = (r: MacaroonRow): TokenView => ({ ...r, caveats: JSON.parse(r.caveats) as Caveat[] })

/**
 * The token in an Authorization header: "Bearer t", or Fly's "FlyV1 t". Fly's comma list (a token and
 * its discharges) is refused whole: Hangar issues no third-party caveats, so a second token can only be
 * noise, and accepting "good,anything" would make the header mean less than it says.
 */
function tokenOf(header: string | undefined): string | undefined {
  const m = /^(?:Bearer|FlyV1)\s+(\S+)$/i.exec(header?.trim() ?? '')
  return m ? (m[1] as string) : undefined
}

const seconds = (): number => Date.now() / 1000

const touchEveryMs = 30_000
const verifiedCacheSize = 1024

export function tokensService(store: Store, key: Buffer) {
  // last_used_at is written at most every 30 s per token: a busy robot must not turn every read into a write.
  const touched = new Map<string, number>()
  const touch = (id: string): void => {
    const now = Date.now()
    if (now - (touched.get(id) ?? 0) < touchEveryMs) return
    touched.set(id, now)
    try {
      store.macaroons.touch(id, new Date(now).toISOString())
    } catch {
      // A full disk must not refuse a valid token: last use is a courtesy.
    }
  }

  const refuse = (denial: NonNullable<ReturnType<typeof checkCaveats>>): HangarError =>
    denial.expired
      ? new HangarError('token_expired', denial.reason)
      : new HangarError('caveat_denied', `permission denied by the token's ${denial.caveat} caveat: ${denial.reason}`, { details: { caveat: denial.caveat, index: denial.index } })

  // Tokens whose signature already verified, most recently used last: node's createHmac costs ~15 µs
  // a link, so a robot's every request would pay for the whole chain again. Only the signature is
  // remembered; revocation and validity are checked on every request.
  const verified = new Map<string, Macaroon>()
  const verifiedOnce = (token: string): Macaroon => {
    const hit = verified.get(token)
    if (hit) {
      verified.delete(token)
      verified.set(token, hit)
      return hit
    }
    const m = verifyMacaroon(key, token)
    verified.set(token, m)
    if (verified.size > verifiedCacheSize) verified.delete(verified.keys().next().value as string)
    return m
  }

  function macaroonCaller(token: string): Caller {
    const m = verifiedOnce(token)
    const row = store.macaroons.get(m.id)
    if (!row) throw new HangarError('token_revoked', `token ${m.id} is not one this daemon knows (its record is gone)`)
    if (row.revoked_at) throw new HangarError('token_revoked', `token ${m.id} was revoked at ${row.revoked_at}`)
    // Validity is the token's own life: outside it the token is no good on any route (401), whatever the request.
    const validity = m.caveats.filter((c) => c.type === 'validity')
    const expired = checkCaveats(validity, { action: 'read', now: seconds() })
    if (expired) throw refuse(expired)
    touch(m.id)
    return { id: m.id, name: row.description || `token ${m.id}`, kind: 'macaroon', caveats: m.caveats, issuedAt: Date.parse(row.created_at) / 1000 }
  }

  /** What an apps caveat needs to know of `app`'s past: when a namesake was deleted, and when the token was issued. */
  const history = (caller: Caller, app: string): Pick<Access, 'appDeletedAt' | 'issuedAt'> => {
    const deleted = store.apps.deletedAt(app)
    return { ...(deleted !== undefined ? { appDeletedAt: Date.parse(deleted) / 1000 } : {}), ...(caller.issuedAt !== undefined ? { issuedAt: caller.issuedAt } : {}) }
  }
  const hasAppsCaveat = (caller: Caller): boolean => caller.caveats.some((c) => c.type === 'apps')

  const wider = (caveat: string, what: string): HangarError =>
    new HangarError('caveat_denied', `permission denied by the token's ${caveat} caveat: a new token cannot reach ${what}, which this token cannot`, { details: { caveat } })

  return {
    /** Issues a new opaque token; the plain text is returned once and never stored. */
    issue(name: string): string {
      const token = generate()
      this.register(name, token)
      return token
    },

    /** A new opaque token, not yet valid: for callers that must save it somewhere before it works. */
    generate,

    /** Makes the opaque `token` valid under `name`. */
    register(name: string, token: string): void {
      store.tokens.insert({ id: ulid(), name, hash: hash(token), created_at: new Date().toISOString() })
    },

    /** The caller behind an Authorization header value; a missing, malformed, tampered, expired, revoked or unknown token throws a 401 saying which. */
    authenticate(header: string | undefined): Caller {
      const token = tokenOf(header)
      if (!token) throw new HangarError('unauthenticated', 'Authenticate: token validation error (no Authorization: Bearer <token> or FlyV1 <token> header)')
      if (token.startsWith(tokenPrefix)) return macaroonCaller(token)
      const row = store.tokens.byHash(hash(token))
      if (!row) throw new HangarError('unauthenticated', 'Authenticate: token validation error (not a token this daemon issued)')
      return { id: row.id, name: row.name, kind: 'opaque', caveats: [] }
    },

    /** Throws caveat_denied (403, naming the caveat) unless every caveat of the caller's token allows `access`. */
    authorize(caller: Caller, access: Omit<Access, 'now' | 'appDeletedAt' | 'issuedAt'>): void {
      // The deletion record is read only where an apps caveat will look at it.
      const past = access.app !== undefined && hasAppsCaveat(caller) ? history(caller, access.app) : {}
      const denial = checkCaveats(caller.caveats, { ...access, ...past, now: seconds() })
      if (denial) throw refuse(denial)
    },

    /** Whether the caller's apps caveats reach `app` (for filtering lists of apps). */
    mayReachApp(caller: Caller, app: string): boolean {
      return !hasAppsCaveat(caller) || mayReachApp(caller.caveats, app, history(caller, app))
    },

    /**
     * The identity a machine's own processes get on its API socket (/.fly/api): every app-level action
     * on its own app, dated now, and nothing else: no other app, no images (they belong to no app), no
     * tokens (a minted token would outlive the machine and leave it). Held in the daemon's memory; no
     * token string exists that the machine could copy out.
     */
    machineCaller(app: string, machineId: string): Caller {
      const now = seconds()
      return {
        id: `machine-${machineId}`, name: `machine ${machineId}`, kind: 'machine', issuedAt: now,
        caveats: [{ type: 'apps', apps: [app], as_of: Math.floor(now * 1000) / 1000 }, { type: 'actions', actions: ['read', 'write', 'create', 'delete', 'exec'] }],
      }
    },

    /**
     * A new macaroon carrying the caller's caveats and then the asked-for ones: it can never reach more
     * than the caller. Asking for an app, machine or action the caller cannot reach is refused outright.
     */
    create(caller: Caller, input: unknown): TokenView & { token: string } {
      const req = parse(createTokenSchema, input ?? {}, 'token request')
      for (const app of req.apps ?? []) if (!mayReachApp(caller.caveats, app, history(caller, app))) throw wider('apps', `app ${app}`)
      for (const m of req.machines ?? []) if (!mayReachMachine(caller.caveats, m)) throw wider('machines', `machine ${m}`)
      for (const a of req.actions ?? []) if (!mayDo(caller.caveats, a)) throw wider('actions', `the ${a} action`)
      let expiresIn: number | undefined
      if (req.expires_in !== undefined) {
        const ms = typeof req.expires_in === 'number' ? req.expires_in * 1000 : parseDurationMs(req.expires_in)
        if (ms === null || ms <= 0) throw new HangarError('invalid_argument', `expires_in ${JSON.stringify(req.expires_in)} is not a positive number of seconds or a duration like "1h"`)
        expiresIn = ms / 1000
      }
      const { expires_in: _asked, description: _d, ...scope } = req
      const added = restrictionCaveats({ ...scope, ...(expiresIn !== undefined ? { expires_in: expiresIn } : {}) })
      const id = newTokenId()
      // An inherited apps caveat keeps the date its names were given, not this token's.
      const inherited = caller.caveats.map((c) => (c.type === 'apps' && c.as_of === undefined ? { ...c, as_of: caller.issuedAt ?? 0 } : c))
      const caveats = [...inherited, ...added]
      const token = mint(key, id, caveats)
      const row: MacaroonRow = {
        id, parent_id: caller.kind === 'macaroon' ? caller.id : null, description: req.description ?? '', caveats: JSON.stringify(caveats),
        created_at: new Date().toISOString(), last_used_at: null, revoked_at: null,
      }
      store.macaroons.insert(row)
      return { ...view(row), token }
    },

    /** The tokens the caller may see: all of them for the root token, otherwise its own and those minted from it. */
    list(caller: Caller): TokenView[] {
      return (caller.kind === 'opaque' ? store.macaroons.list() : store.macaroons.descendants(caller.id)).map(view)
    },

    /** Revokes `id` and every token minted from it, at once, on every surface. A token the caller may not see is not found. */
    revoke(caller: Caller, id: string): { id: string; revoked: number } {
      const visible = caller.kind === 'opaque' ? store.macaroons.get(id) : store.macaroons.descendants(caller.id).find((r) => r.id === id)
      if (!visible) throw new HangarError('token_not_found', `token ${id} not found`)
      return { id, revoked: store.macaroons.revoke(id, new Date().toISOString()) }
    },

    any(): boolean {
      return store.tokens.count() > 0
    },
  }
}

export type TokensService = ReturnType<typeof tokensService>
