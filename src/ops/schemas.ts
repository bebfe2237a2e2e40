/**
 * Request shapes, in the Fly Machines API's JSON field names. The REST layer,
 * MCP tools and the OpenAPI document all use these: one definition each.
 * Unknown config fields are kept and echoed back, as Fly does.
 */
import { z } from 'zod'
import { parseDurationMs } from '../lib/duration.ts'
import { csv, int } from './query.ts'

const maxDurationMs = 24 * 3600_000

export const duration = z.union([z.string(), z.number()]).refine((v) => {
  const ms = parseDurationMs(v)
  return ms !== null && ms <= maxDurationMs
}, { message: 'expected a Go duration up to 24h like "10s" or "500ms", or nanoseconds as a number' })

export const signalName = z.union([
  z.enum(['SIGABRT', 'SIGALRM', 'SIGFPE', 'SIGHUP', 'SIGILL', 'SIGINT', 'SIGKILL', 'SIGPIPE', 'SIGQUIT', 'SIGSEGV', 'SIGTERM', 'SIGTRAP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGSTOP']),
  // Standard signals only: the runtime delivers these by name.
  z.number().int().min(1).max(31),
])

export const guest = z.looseObject({
  cpu_kind: z.enum(['shared', 'performance']).default('shared'),
  cpus: z.number().int().min(1, 'guest.cpus must be at least 1').max(64, 'guest.cpus must be at most 64').default(1),
  memory_mb: z.number().int().min(64, 'guest.memory_mb must be at least 64').max(65536, 'guest.memory_mb must be at most 65536').default(256),
})

export const init = z.looseObject({
  exec: z.array(z.string()).nullish(),
  entrypoint: z.array(z.string()).nullish(),
  cmd: z.array(z.string()).nullish(),
  tty: z.boolean().optional(),
})

export const restart = z.looseObject({
  policy: z.enum(['no', 'always', 'on-failure', 'spot-price']).default('on-failure'),
  max_retries: z.number().int().min(0).max(1000).optional(),
})

export const stopConfig = z.looseObject({
  signal: signalName.optional(),
  timeout: duration.optional(),
})

/**
 * A service's health check, in Fly's shape: a TCP connect to the service's
 * internal port, or an HTTP request whose answer must be 2xx/3xx. The edge
 * proxy sends no traffic to a started machine whose check fails (proxy/health.ts).
 */
export const serviceCheck = z.looseObject({
  type: z.enum(['tcp', 'http']).default('tcp'),
  interval: duration.optional(),
  timeout: duration.optional(),
  grace_period: duration.optional(),
  method: z.string().regex(/^[A-Za-z]{1,16}$/, 'checks[].method is an HTTP method like "get"').optional(),
  // What node:http sends as it is: visible ASCII and Latin-1, no spaces or controls.
  path: z.string().regex(/^\/[\x21-\x7e\x80-\xff]*$/, 'checks[].path is a path starting with /, without spaces or control characters (percent-encode them)').optional(),
  protocol: z.enum(['http', 'https']).optional(),
  headers: z.array(z.looseObject({ name: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'checks[].headers[].name is a header name'), values: z.array(z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'checks[].headers[].values hold no control characters')) })).optional(),
})

/**
 * One entry of `services[]`, in Fly's shape; the edge proxy sends HTTP to the
 * first service with an `http` handler. Defaults are Fly's (autostart true,
 * concurrency by connections, soft_limit 20). Autostop accepts Fly's strings and
 * is stored as Fly echoes it: off → false, stop → true, "suspend" as is.
 */
export const service = z.looseObject({
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  internal_port: z.number().int().min(1).max(65535),
  ports: z.array(z.looseObject({ port: z.number().int().min(1).max(65535).optional(), handlers: z.array(z.string()).optional() })).optional(),
  autostart: z.boolean().default(true),
  autostop: z.union([z.boolean(), z.enum(['off', 'stop', 'suspend'])]).transform((v) => (v === 'off' ? false : v === 'stop' ? true : v)).optional(),
  min_machines_running: z.number().int().min(0).optional(),
  concurrency: z
    .looseObject({
      type: z.enum(['connections', 'requests']).default('connections'),
      soft_limit: z.number().int().min(1).default(20),
      hard_limit: z.number().int().min(1).optional(),
    })
    .optional(),
  checks: z.array(serviceCheck).max(10, 'at most 10 checks per service').optional(),
})
export type Service = z.infer<typeof service>

const gbField = (name: string) =>
  z.number().int(`rootfs.${name} is a whole number of GB`).min(0, `rootfs.${name} must not be negative`).max(65536, `rootfs.${name} must be at most 65536`).optional()

/**
 * Fly's rootfs: size_gb is the size of the machine's writable layer, a limit nothing inside can
 * pass (rootfs/disks.ts); fs_size_gb, when given, is the filesystem's size inside it and so
 * the limit. 0 or absent: the host's default (--rootfs-size). persist is kept and echoed.
 */
export const rootfs = z
  .looseObject({ size_gb: gbField('size_gb'), fs_size_gb: gbField('fs_size_gb') })
  .refine((v) => !(v.size_gb && v.fs_size_gb && v.fs_size_gb > v.size_gb), { message: 'rootfs.fs_size_gb must not exceed rootfs.size_gb', path: ['fs_size_gb'] })

/** The disk limit in bytes a rootfs asks for, or undefined for the host's default. */
export function rootfsBytes(r: z.infer<typeof rootfs> | undefined): number | undefined {
  const gb = r?.fs_size_gb || r?.size_gb
  return gb ? gb * 2 ** 30 : undefined
}

/** Where the machine sees a volume: absolute, normalised, not `/`, and not where the kernel's own filesystems go. */
const mountPath = z
  .string()
  .refine((p) => p.startsWith('/'), 'mounts[].path must be absolute, like /data')
  .refine((p) => p !== '/' && p.replace(/\/+$/, '') !== '', 'mounts[].path cannot be / (the machine\'s root filesystem is its disk; mount the volume on a directory such as /data)')
  .refine((p) => !p.split('/').some((c) => c === '..' || c === '.'), 'mounts[].path must not contain . or .. components')
  .refine((p) => !/^\/(proc|sys|dev)(\/|$)/.test(p), 'mounts[].path cannot be under /proc, /sys or /dev')
  .transform((p) => p.replace(/\/{2,}/g, '/').replace(/\/+$/, ''))

/** Fly's mounts[]: a volume of the app ("vol_…") and where it appears; other Fly fields are kept and echoed. */
export const volumeMount = z.looseObject({
  volume: z.string().regex(/^vol_[a-z0-9]{1,40}$/, 'mounts[].volume is a volume id of the app, like "vol_3k9x…"'),
  path: mountPath,
})

/**
 * Base64 as `base64` writes it, line breaks allowed (`$(base64 < file)` keeps them): what Fly wants in
 * files[].raw_value and in a secret a file is made from.
 */
export function isBase64(text: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(text.replace(/\s+/g, '')) && text.replace(/\s+/g, '').length % 4 === 0
}

const guestPath = z
  .string()
  .refine((p) => p.startsWith('/') && p.replace(/\/+$/, '') !== '', 'files[].guest_path must be an absolute path to a file, like /app/credentials.json')
  .refine((p) => !p.split('/').some((c) => c === '..' || c === '.'), 'files[].guest_path must not contain . or .. components')
  .refine((p) => !/^\/(proc|sys|dev)(\/|$)/.test(p), 'files[].guest_path cannot be under /proc, /sys or /dev')
  .transform((p) => p.replace(/\/{2,}/g, '/').replace(/\/+$/, ''))

/**
 * Fly's files[]: a file the machine finds at guest_path at every start, from raw_value (base64 in the
 * config) or secret_name (an app secret holding base64; the machine gets it as bound at its create or
 * update, as env vars are). Given read-only from memory, never written to the machine's disk.
 * `mode` is chmod bits as a number (Fly's uint32), default 0644.
 */
export const machineFile = z
  .looseObject({
    guest_path: guestPath,
    raw_value: z.string().max(1 << 20).refine(isBase64, 'files[].raw_value is base64 (base64 < file)').optional(),
    secret_name: z.string().min(1).max(256).optional(),
    image_config: z.string().optional(),
    mode: z.number().int().min(0).max(0o7777).optional(),
  })
  .refine((f) => f.image_config === undefined, { message: 'files[].image_config is not supported by Hangar; give raw_value or secret_name', path: ['image_config'] })
  .refine((f) => (f.raw_value === undefined) !== (f.secret_name === undefined), { message: 'give each file exactly one of raw_value or secret_name', path: ['guest_path'] })

const envKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _ and may not start with a digit')

export const machineConfig = z.looseObject({
  image: z.string().min(1, 'config.image is required'),
  env: z.record(envKey, z.string()).optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  guest: guest.optional(),
  init: init.optional(),
  restart: restart.optional(),
  stop_config: stopConfig.optional(),
  auto_destroy: z.boolean().optional(),
  services: z.array(service).optional(),
  rootfs: rootfs.optional(),
  mounts: z.array(volumeMount).max(1, 'a machine mounts at most one volume (as on Fly)').optional(),
  files: z
    .array(machineFile)
    .max(64, 'at most 64 files')
    .refine((fs) => new Set(fs.map((f) => f.guest_path)).size === fs.length, 'two files[] have the same guest_path')
    .optional(),
})
export type MachineConfig = z.infer<typeof machineConfig>

export const machineNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'names are lower-case letters, digits and dashes')

/**
 * Which app secrets a create or update gives the machine: those current now (the default), none
 * (skip_secrets), and refused unless the app's secrets have reached min_secrets_version (the
 * version a secrets change answered).
 */
const secretsBinding = {
  skip_secrets: z.boolean().optional(),
  min_secrets_version: z.number().int().min(0).optional(),
}

export const createMachine = z.looseObject({
  config: machineConfig,
  name: machineNameSchema.optional(),
  region: z.string().optional(),
  skip_launch: z.boolean().optional(),
  lease_ttl: z.number().int().min(1).max(3600).optional(),
  ...secretsBinding,
})
export type CreateMachineInput = z.infer<typeof createMachine>

export const updateMachine = z.looseObject({
  config: machineConfig,
  name: machineNameSchema.optional(),
  region: z.string().optional(),
  skip_launch: z.boolean().optional(),
  current_version: z.string().optional(),
  lease_ttl: z.number().int().min(1).max(3600).optional(),
  ...secretsBinding,
})
export type UpdateMachineInput = z.infer<typeof updateMachine>

export const createApp = z
  .looseObject({
    name: z.string().optional(),
    app_name: z.string().optional(),
    org_slug: z.string().default('personal'),
    network: z.string().optional(),
  })
  .transform((v, ctx) => {
    const name = v.app_name ?? v.name
    if (!name || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) {
      ctx.addIssue({ code: 'custom', path: ['app_name'], message: 'app_name is required: lower-case letters, digits and dashes, at most 63' })
      return z.NEVER
    }
    return { name, org_slug: v.org_slug, network: v.network ?? 'default' }
  })

export const stopMachine = z.looseObject({ signal: signalName.optional(), timeout: duration.optional() })

export const signalMachine = z.looseObject({ signal: signalName })

export const execMachine = z
  .looseObject({
    command: z.array(z.string()).min(1).optional(),
    cmd: z.string().min(1).optional(),
    stdin: z.string().max(1 << 20).optional(),
    timeout: z.number().int().min(1).max(3600).default(30),
    max_output_bytes: z.number().int().min(1).max(16 << 20).default(1 << 20),
  })
  .refine((v) => v.command || v.cmd, { message: 'give command (an argv array) or cmd (a shell string)', path: ['command'] })

export const acquireLease = z.looseObject({ ttl: z.number().int().min(1).max(3600).optional(), description: z.string().max(256).optional() })

export const waitQuery = z
  .object({
    state: csv.pipe(z.array(z.enum(['started', 'stopped', 'suspended', 'destroyed', 'failed', 'settled', 'created']))).optional()
      .describe('started (default), stopped, suspended, destroyed, failed or settled; repeat or comma-separate'),
    // 300 s: HTTP clients (fetch/undici among them) give up on a response after 5 minutes.
    timeout: int.pipe(z.number().min(1).max(300)).optional().describe('seconds (default 60, max 300)'),
    instance_id: z.string().optional().describe('the version to wait on'),
    version: z.string().optional().describe('same as instance_id'),
    from_event_id: z.string().optional(),
  })
  .transform(({ version, ...q }) => ({ ...q, state: q.state?.length ? q.state : ['started' as const], timeout: q.timeout ?? 60, instance_id: q.instance_id ?? version }))

export const patchMetadata = z.object({
  metadata: z.record(z.string().min(1).max(256), z.string().max(4096).nullable()),
  machine_version: z.string().optional(),
})

const ruleAction = z.enum(['allow', 'deny']).describe('what a matching destination gets')
export const networkPolicySchema = z.strictObject({
  rules: z.array(z.union([
    z.strictObject({ cidr: z.string().min(1).max(64).describe('IPv4 or IPv6 address or CIDR block'), action: ruleAction }),
    z.strictObject({ domain: z.string().min(1).max(256).describe('example.com, *.example.com (names under it) or * (every name)'), action: ruleAction }),
    z.strictObject({ include: z.string().describe('a Sprites preset; not supported: list its rules instead') }),
  ])).max(256, 'at most 256 rules').describe('first match wins; past the rules, the defaults'),
})

