/**
 * App secrets in the Fly Machines API's shape: set and unset by name, listed by name and digest,
 * never read back. Every change is a new version of the app's secrets. A machine is bound to the
 * version current at its create or last update (machines.ts) and gets that version's values at
 * every start, as env vars and config.files, as on Fly: new values reach it when it is updated.
 * Values are sealed at rest (secrets-crypto.ts) and leave the platform only towards the runtime.
 *
 *   platform.secrets.update('web', { values: { DB_URL: 'postgres://…', OLD_KEY: null } })  // { secrets, version }
 *   platform.secrets.list('web')                                                          // names and digests
 */
import { z } from 'zod'
import { HangarError } from '../errors.ts'
import type { StartSecrets } from '../runtime/types.ts'
import type { MachineRow, SecretRow } from '../store/index.ts'
import type { Ctx } from './context.ts'
import { isBase64, type MachineConfig } from '../ops/schemas.ts'
import { parse } from './validate.ts'

/** Env var names: they become one in every machine of the app. */
export const secretName = z.string().max(256).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'secret names are letters, digits and _, not starting with a digit (each becomes an env var)')

const maxValueBytes = 64 * 1024
const maxSecrets = 256
/** What one machine's env may carry from secrets: the kernel refuses an exec whose env passes ~2 MB. */
const maxTotalBytes = 1 << 20

/** Messages name the rule broken, never the value (zod's own say "expected string" and the like). */
const secretValue = z
  .string()
  .refine((v) => !v.includes('\0'), 'a secret value cannot hold a NUL byte (it becomes an env var)')
  .refine((v) => Buffer.byteLength(v) <= maxValueBytes, `a secret value is at most ${maxValueBytes} bytes`)

/** Fly's POST /apps/{app}/secrets: values to set, null to unset; one new version for all of them. */
export const updateSecretsSchema = z.looseObject({
  values: z.record(secretName, secretValue.nullable()).refine((v) => Object.keys(v).length > 0, 'values names no secret'),
})

/** Fly's POST /apps/{app}/secrets/{name}. */
export const setSecretSchema = z.looseObject({ value: secretValue })

/** Fly's AppSecret, without `value`: Hangar never returns one. */
export interface SecretView {
  name: string
  /** 32 hex digits of a keyed HMAC of the value (secrets-crypto.ts): equal within the app iff the values are. */
  digest: string
  created_at: string
  updated_at: string
}

export interface SecretsQuery {
  /** Fly's min_version (fly-go sends `version`): refused if the app's secrets have not reached it. */
  min_version?: string | undefined
  show_secrets?: boolean | undefined
}

const view = (r: SecretRow): SecretView => ({ name: r.name, digest: r.digest as string, created_at: r.created_at, updated_at: r.updated_at })
const live = (r: SecretRow): boolean => r.value !== null
/** A sealed value is the value's bytes and 29 more (secrets-crypto.ts). */
const sealedOverhead = 29

function appExists(ctx: Ctx, app: string): void {
  if (!ctx.store.apps.get(app)) throw new HangarError('app_not_found', `app not found: ${app}`)
}

/** The app's secrets as of `version`, decrypted: what a machine bound to it gets. */
export function valuesAt(ctx: Ctx, app: string, version: number): Map<string, string> {
  return new Map(ctx.store.secrets.at(app, version).filter(live).map((r) => [r.name, ctx.secretBox.open({ app, name: r.name, version: r.version }, r.value as Uint8Array)]))
}

/**
 * Deletes the rows no machine can need any more: those superseded at or before the oldest
 * version a live machine of the app is bound to (or the current one, when none is).
 */
export function pruneSecrets(ctx: Ctx, app: string): void {
  const bound = ctx.store.machines.list({ app }).map((m) => m.secrets_version).filter((v): v is number => v !== null)
  ctx.store.secrets.prune(app, Math.min(ctx.store.secrets.version(app), ...bound))
}

/** pruneSecrets after a machine's update or destroy, which must not fail over housekeeping: the next change prunes again. */
export function tidySecrets(ctx: Ctx, app: string): void {
  try {
    pruneSecrets(ctx, app)
  } catch (e) {
    ctx.logger.warn({ app, err: String(e) }, 'could not prune old secret versions; the next secrets change will')
  }
}

/**
 * The version a create or update binds the machine to: the current one, or null with skip_secrets.
 * Refused, before anything is made, when min_secrets_version is ahead of the app's secrets or a
 * config.files entry names a secret that is not set or not base64.
 */
export function bindSecrets(ctx: Ctx, app: string, req: { config: MachineConfig; skip_secrets?: boolean | undefined; min_secrets_version?: number | undefined }): number | null {
  const version = ctx.store.secrets.version(app)
  if (req.min_secrets_version !== undefined && req.min_secrets_version > version) {
    throw new HangarError('out_of_range', `min_secrets_version ${req.min_secrets_version} is ahead of app ${app}'s secrets, which are at version ${version}`, {
      hint: `pass the version a secrets change answered (at most ${version}), or leave min_secrets_version out`,
    })
  }
  const bound = req.skip_secrets ? null : version
  const named = (req.config.files ?? []).map((f, i) => [i, f.secret_name] as const).filter((x): x is readonly [number, string] => x[1] !== undefined)
  if (named.length === 0) return bound
  if (bound === null) throw new HangarError('invalid_argument', `config.files[${named[0]![0]}].secret_name needs the app's secrets, which skip_secrets leaves out`)
  const values = valuesAt(ctx, app, bound)
  for (const [i, name] of named) fileContent(app, values, name, i)
  return bound
}

/** A secret file's bytes: Fly keeps them base64 in the secret. Errors name the secret, never its content. */
function fileContent(app: string, values: Map<string, string>, name: string, i: number): Buffer {
  const v = values.get(name)
  if (v === undefined) {
    throw new HangarError('invalid_argument', `config.files[${i}].secret_name: app ${app} has no secret ${name}`, {
      hint: `set it first (POST /v1/apps/${app}/secrets with {"values": {"${name}": "<base64>"}}), then create or update the machine`,
    })
  }
  if (!isBase64(v)) {
    throw new HangarError('invalid_argument', `config.files[${i}]: secret ${name} of app ${app} is not base64, which a file's secret must be (as on Fly)`, {
      hint: `set it as the file's base64: hangar secrets set ${name}=$(base64 -w0 < FILE) --app ${app}`,
    })
  }
  return Buffer.from(v, 'base64')
}

/** What the runtime gives the machine at this start: its bound secrets as env vars, and its config.files. */
export function startSecrets(ctx: Ctx, m: MachineRow): StartSecrets | undefined {
  const files = (m.config as MachineConfig).files ?? []
  const values = m.secrets_version === null ? new Map<string, string>() : valuesAt(ctx, m.app_name, m.secrets_version)
  if (values.size === 0 && files.length === 0) return undefined
  return {
    env: [...values].map(([k, v]) => `${k}=${v}`),
    files: files.map((f, i) => ({
      path: f.guest_path,
      mode: f.mode ?? 0o644,
      content: f.secret_name !== undefined ? fileContent(m.app_name, values, f.secret_name, i) : Buffer.from(f.raw_value ?? '', 'base64'),
    })),
  }
}

export function secretsService(ctx: Ctx) {
  const { store } = ctx

  function versionOf(app: string, q: SecretsQuery): number {
    appExists(ctx, app)
    if (q.show_secrets) {
      throw new HangarError('secrets_write_only', `secret values are write-only in Hangar: app ${app}'s values are given to its machines, never returned`)
    }
    const version = store.secrets.version(app)
    if (q.min_version !== undefined && q.min_version !== '') {
      const min = Number(q.min_version)
      if (!Number.isInteger(min) || min < 0) throw new HangarError('invalid_argument', `min_version ${JSON.stringify(q.min_version)} is not a whole number`)
      if (min > version) throw new HangarError('out_of_range', `min_version ${min} is ahead of app ${app}'s secrets, which are at version ${version}`)
    }
    return version
  }

  const current = (app: string): SecretRow[] => store.secrets.at(app, store.secrets.version(app)).filter(live)

  /** Writes every change under one new version; unsetting names that are not set changes nothing. */
  function write(app: string, changes: [string, string | null][]): number {
    appExists(ctx, app)
    ctx.disk.assertRoom()
    const version = store.tx(() => {
      const now = new Map(current(app).map((r) => [r.name, r]))
      const effective = changes.filter(([name, value]) => value !== null || now.has(name))
      if (effective.length === 0) return store.secrets.version(app)
      const after = new Map([...now].map(([n, r]) => [n, (r.value as Uint8Array).length - sealedOverhead]))
      for (const [name, value] of effective) {
        if (value === null) after.delete(name)
        else after.set(name, Buffer.byteLength(value))
      }
      if (after.size > maxSecrets) throw new HangarError('out_of_range', `app ${app} would have ${after.size} secrets; the most is ${maxSecrets}`)
      const total = [...after].reduce((sum, [n, bytes]) => sum + n.length + 1 + bytes, 0)
      if (total > maxTotalBytes) throw new HangarError('out_of_range', `app ${app}'s secrets would take ${total} bytes of every machine's env; the most is ${maxTotalBytes}`)
      const version = store.secrets.nextVersion(app)
      const at = new Date().toISOString()
      for (const [name, value] of effective) {
        const slot = { app, name, version }
        store.secrets.insert({
          app_name: app, name, version, value: value === null ? null : ctx.secretBox.seal(slot, value), digest: value === null ? null : ctx.secretBox.digest(app, value),
          created_at: value === null ? at : now.get(name)?.created_at ?? at, updated_at: at,
        })
      }
      pruneSecrets(ctx, app)
      return version
    })
    // Names only: a value never reaches a log line.
    const set = changes.filter(([, v]) => v !== null).map(([n]) => n)
    const unset = changes.filter(([, v]) => v === null).map(([n]) => n)
    ctx.logger.info({ app, version, ...(set.length ? { set } : {}), ...(unset.length ? { unset } : {}) }, 'app secrets changed')
    return version
  }

  function one(app: string, name: string): SecretView {
    const row = current(app).find((r) => r.name === name)
    if (!row) throw new HangarError('secret_not_found', `app ${app} has no secret ${name}`)
    return view(row)
  }

  return {
    /** Names and digests of the app's secrets now, and their version. */
    list(app: string, q: SecretsQuery = {}): { secrets: SecretView[]; version: number } {
      const version = versionOf(app, q)
      return { secrets: current(app).map(view), version }
    },

    get(app: string, name: string, q: SecretsQuery = {}): SecretView {
      versionOf(app, q)
      return one(app, name)
    },

    /** Sets (string) and unsets (null) in one new version; answers every secret after the change. Unsetting a name not set is no error. */
    update(app: string, input: unknown): { secrets: SecretView[]; version: number } {
      const req = parse(updateSecretsSchema, input, 'secrets update')
      const version = write(app, Object.entries(req.values))
      return { secrets: current(app).map(view), version }
    },

    set(app: string, name: string, input: unknown): SecretView & { version: number } {
      parse(secretName, name, 'secret name')
      const req = parse(setSecretSchema, input, 'secret')
      const version = write(app, [[name, req.value]])
      return { ...one(app, name), version }
    },

    /** secret_not_found when the name is not set. */
    unset(app: string, name: string): { version: number } {
      appExists(ctx, app)
      one(app, name)
      return { version: write(app, [[name, null]]) }
    },
  }
}

export type SecretsService = ReturnType<typeof secretsService>
