/**
 * The daemon's configuration: one strict schema, parsed once. Precedence:
 * defaults < HANGAR_* environment < command-line flags. Each room gets its slice.
 */
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { parse } from '../platform/validate.ts'
import { parseDurationMs } from '../lib/duration.ts'
import type { MachinesFsOptions } from '../runtime/index.ts'
import { parsePortRanges, PortRangeError } from '../lib/port-ranges.ts'
import { CidrError, parseCidr } from '../lib/cidr.ts'

const port = z.coerce.number().int().min(0).max(65535)
/** A Go-style duration ("5m", "750ms") in, milliseconds out. */
const durationMs = z
  .union([z.string(), z.number()])
  .refine((v) => parseDurationMs(v) !== null, { message: 'expected a duration like "5m", "30s" or "750ms"' })
  .transform((v) => parseDurationMs(v) as number)

/** `image`, `none`, a block device (/dev/…) or a directory on a mounted btrfs: see rootfs/machines-fs.ts. */
const machinesFs = z
  .string()
  .refine((v) => v === 'image' || v === 'none' || v.startsWith('/'), { message: 'expected image, none, a device like /dev/sdb1, or an absolute path on a btrfs' })
  .transform((v): MachinesFsOptions => (v === 'image' || v === 'none' ? { kind: v } : v.startsWith('/dev/') ? { kind: 'device', device: v } : { kind: 'path', path: v }))

const units: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }
/** A size in bytes: a number, or "256MB" / "1.5G" / "512MiB" (K, M, G, T count in 1024s, as memory_mb does). */
const sizeBytes = z
  .union([z.number().int().min(0), z.string().regex(/^\s*\d+(?:\.\d+)?\s*(?:[kmgt](?:i?b)?|b)?\s*$/i, 'expected a size like "256MB", "2GB" or bytes')])
  .transform((v) => {
    if (typeof v === 'number') return v
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)/i.exec(v) as RegExpExecArray
    return Math.round(Number(m[1]) * (units[(m[2] as string).toLowerCase()] as number))
  })
/** Host ports machines' raw TCP services may take: "10000-10999", "15432", or "none". */
const portRanges = z.array(z.string()).superRefine((l, ctx) => {
  try {
    parsePortRanges(l)
  } catch (e) {
    if (!(e instanceof PortRangeError)) throw e
    ctx.addIssue({ code: 'custom', message: e.message })
  }
}).transform((l) => parsePortRanges(l))

/** CIDR blocks, each checked (host bits set is an error), in canonical form. */
const cidrs = z.array(z.string()).superRefine((l, ctx) => {
  for (const c of l) {
    try {
      parseCidr(c)
    } catch (e) {
      if (!(e instanceof CidrError)) throw e
      ctx.addIssue({ code: 'custom', message: e.message })
    }
  }
}).transform((l) => l.map((c) => parseCidr(c).cidr))

/** A disk size: as sizeBytes, and more than nothing. */
const diskSize = sizeBytes.refine((v) => v > 0, { message: 'expected a size above 0' })

export const configSchema = z.strictObject({
  dataDir: z.string().min(1).default('/var/lib/hangar'),
  api: z.strictObject({ host: z.string().default('127.0.0.1'), port: port.default(4280) }).prefault({}),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** json: one JSON object a line; pretty: time, level, message and fields; auto: pretty on a terminal, else json. */
  logFormat: z.enum(['auto', 'json', 'pretty']).default('auto'),
  region: z.string().default('local'),
  driver: z.enum(['runc']).default('runc'),
  /** Build the Debian base image in the background on a start that finds no `debian` image. */
  baseImage: z.union([z.boolean(), z.stringbool()]).default(true),
  /**
   * Names the API (and so /v2 and /mcp) is reached at besides loopback, `host` or `host:port` as an image
   * reference spells it: references on them name the local store, and /mcp trusts browser origins on them.
   */
  publicHosts: z.array(z.string().regex(/^(?:[a-z0-9.-]+|\[[0-9a-f:]+\])(?::[0-9]{1,5})?$/i, 'expected host or host:port')).default([]),
  /**
   * Address blocks image pulls and pushes may reach although they are loopback, link-local, private or
   * otherwise special (refused by default: a robot's `image pull` must not probe the host or its LAN).
   */
  pullAllow: cidrs.default([]),
  /** Each machine reaches the Machines API for its own app on a socket at /.fly/api. */
  machineApi: z.union([z.boolean(), z.stringbool()]).default(true),
  /** Admission control: what running machines may reserve together (a stopped machine reserves nothing). */
  capacity: z
    .strictObject({
      /** The share of the host's memory (MemTotal) the guests of running machines may add up to; above 1 overcommits. */
      maxMemoryShare: z.coerce.number().positive().max(4).default(0.9),
      /** Guest CPUs each host CPU may carry: CPU time is shared, so running machines may ask for more than the host has. */
      cpuOvercommit: z.coerce.number().positive().max(64).default(4),
    })
    .prefault({}),
  /** How many checkpoints each machine keeps; past it the oldest without a comment is removed. */
  checkpointRetention: z.coerce.number().int().min(1).max(1000).default(20),
  /** Free space the data dir's filesystem keeps for the daemon's own state: below it creates, updates and starts are refused (0 = off). */
  minFreeDisk: sizeBytes.default(256 * 2 ** 20),
  /** The edge proxy: apps at http://<app>.<domain>:<port>. Port 0 picks a free one (daemon.json says which). */
  proxy: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: port.default(4281),
      domain: z.string().regex(/^[a-z0-9.-]+$/).default('localhost'),
      /** Autostop takes a machine after this long without a request or connection. */
      autostopIdle: durationMs.default(300_000),
      /** How long a request waits for an autostarted machine to accept connections. */
      wakeTimeout: durationMs.default(10_000),
      /** A client must send a whole request head within this (slowloris guard; 408 after). */
      headersTimeout: durationMs.default(10_000),
      /** A client must send a whole request (head and body) within this; 0 = no limit. */
      requestTimeout: durationMs.default(300_000),
      /** HTTPS + h2 with certificates by SNI from a local CA under <data-dir>/proxy/ (0 = a free port). */
      httpsPort: port.default(4443),
      /** Answer plain HTTP with a 301 to HTTPS. */
      redirectHttps: z.union([z.boolean(), z.stringbool()]).default(false),
      /** Cleartext h2 (prior knowledge) on the plain port too. */
      h2c: z.union([z.boolean(), z.stringbool()]).default(false),
      /**
       * Host ports a machine's raw TCP service (a service whose ports have no handlers) may ask the proxy
       * to listen on; a config naming another is refused (port_not_allowed). A robot must not take a port
       * some host service will want, or one a host client trusts.
       */
      tcpPorts: portRanges.default(parsePortRanges(['10000-10999'])),
      /** Custom hostnames, `app=host` each: the app is also served at that host (certificates included). */
      hostnames: z
        .array(z.string().regex(/^[a-z0-9][a-z0-9-]*=[a-z0-9.-]+$/, 'expected app=hostname'))
        .default([])
        .transform((l) => Object.fromEntries(l.map((kv) => [kv.slice(kv.indexOf('=') + 1), kv.slice(0, kv.indexOf('='))]))),
    })
    .prefault({}),
  /** Machines' disks: where they live and how large they may be (docs/operations.md, "Disks"). */
  disks: z
    .strictObject({
      fs: machinesFs.default({ kind: 'image' }),
      /** The size of the image `fs: image` makes (once); default half the data dir's free space, 2–100 GB. */
      fsSize: diskSize.optional(),
      /** The disk of a machine whose config.rootfs names no size. */
      rootfsSize: diskSize.default(4 * 2 ** 30),
      /** How far the machines' disk sizes together may exceed the machines filesystem: 1 = never. */
      overcommit: z.coerce.number().min(1).max(100).default(1),
    })
    .prefault({}),
  /** The tokenizer: a credential-injecting forward proxy for machines (docs/security.md, "The tokenizer"). */
  tokenizer: z
    .strictObject({
      /** Its listener on the host (0 = a free port; daemon.json says which). */
      host: z.string().default('127.0.0.1'),
      port: port.default(4283),
      /** Its port on each machine network's gateway, where machines reach it (the firewall opens it to them). */
      gatewayPort: port.refine((p) => p > 0, { message: 'the gateway port must be fixed (above 0): machines are told it' }).default(4283),
      /** PEM files of CAs to trust for upstreams, besides Node's bundled roots. */
      ca: z.array(z.string().min(1)).default([]),
      /** Non-public blocks the tokenizer may dial (loopback, the LAN): none by default. */
      allowNets: z.array(z.string().refine((c) => {
        try {
          parseCidr(c)
          return true
        } catch {
          return false
        }
      }, { message: 'expected a CIDR block like 10.5.0.0/16 (no host bits set)' })).default([]),
    })
    .prefault({}),
  network: z
    .strictObject({
      name: z.string().regex(/^[a-z0-9-]{1,20}$/).default('hangar'),
      bridge: z.string().regex(/^[a-z0-9-]{1,15}$/).default('hangar0'),
      subnet: z.string().default('10.209.0.0/20'),
      subnet6: z.string().default('fd68:616e:6761::/64'),
      /** Resolvers the DNS forwarder of apps with domain rules asks; empty: the host's resolv.conf. */
      dnsUpstreams: z.array(z.string().regex(/^(?:[0-9.]+|[0-9a-f:]+|\[[0-9a-f:]+\])(?::[0-9]{1,5})?$/i, 'expected ip, ip:port or [ip6]:port')).default([]),
    })
    .prefault({}),
})

export type DaemonConfig = z.infer<typeof configSchema>

/** flag name → [config path, env var] */
const knobs: Record<string, [string[], string]> = {
  'data-dir': [['dataDir'], 'HANGAR_DATA_DIR'],
  'api-host': [['api', 'host'], 'HANGAR_API_HOST'],
  'api-port': [['api', 'port'], 'HANGAR_API_PORT'],
  'log-level': [['logLevel'], 'HANGAR_LOG_LEVEL'],
  'log-format': [['logFormat'], 'HANGAR_LOG_FORMAT'],
  region: [['region'], 'HANGAR_REGION'],
  'proxy-host': [['proxy', 'host'], 'HANGAR_PROXY_HOST'],
  'proxy-port': [['proxy', 'port'], 'HANGAR_PROXY_PORT'],
  'proxy-domain': [['proxy', 'domain'], 'HANGAR_PROXY_DOMAIN'],
  'autostop-idle': [['proxy', 'autostopIdle'], 'HANGAR_AUTOSTOP_IDLE'],
  'wake-timeout': [['proxy', 'wakeTimeout'], 'HANGAR_WAKE_TIMEOUT'],
  'proxy-headers-timeout': [['proxy', 'headersTimeout'], 'HANGAR_PROXY_HEADERS_TIMEOUT'],
  'proxy-request-timeout': [['proxy', 'requestTimeout'], 'HANGAR_PROXY_REQUEST_TIMEOUT'],
  'proxy-https-port': [['proxy', 'httpsPort'], 'HANGAR_PROXY_HTTPS_PORT'],
  'machines-fs': [['disks', 'fs'], 'HANGAR_MACHINES_FS'],
  'machines-fs-size': [['disks', 'fsSize'], 'HANGAR_MACHINES_FS_SIZE'],
  'rootfs-size': [['disks', 'rootfsSize'], 'HANGAR_ROOTFS_SIZE'],
  'disk-overcommit': [['disks', 'overcommit'], 'HANGAR_DISK_OVERCOMMIT'],
  'max-memory-share': [['capacity', 'maxMemoryShare'], 'HANGAR_MAX_MEMORY_SHARE'],
  'cpu-overcommit': [['capacity', 'cpuOvercommit'], 'HANGAR_CPU_OVERCOMMIT'],
  'min-free-disk': [['minFreeDisk'], 'HANGAR_MIN_FREE_DISK'],
  'checkpoint-retention': [['checkpointRetention'], 'HANGAR_CHECKPOINT_RETENTION'],
  'network-name': [['network', 'name'], 'HANGAR_NETWORK_NAME'],
  bridge: [['network', 'bridge'], 'HANGAR_BRIDGE'],
  subnet: [['network', 'subnet'], 'HANGAR_SUBNET'],
  subnet6: [['network', 'subnet6'], 'HANGAR_SUBNET6'],
  'tokenizer-host': [['tokenizer', 'host'], 'HANGAR_TOKENIZER_HOST'],
  'tokenizer-port': [['tokenizer', 'port'], 'HANGAR_TOKENIZER_PORT'],
  'tokenizer-gateway-port': [['tokenizer', 'gatewayPort'], 'HANGAR_TOKENIZER_GATEWAY_PORT'],
}

/** On/off knobs: the flag is --name / --no-name, the environment variable 1/0 (or true/false). */
const switches: Record<string, [string[], string]> = {
  'base-image': [['baseImage'], 'HANGAR_BASE_IMAGE'],
  'machine-api': [['machineApi'], 'HANGAR_MACHINE_API'],
  'proxy-redirect-https': [['proxy', 'redirectHttps'], 'HANGAR_PROXY_REDIRECT_HTTPS'],
  'proxy-h2c': [['proxy', 'h2c'], 'HANGAR_PROXY_H2C'],
}

/** Repeatable flags; the environment variable holds a comma-separated list. */
const lists: Record<string, [string[], string]> = {
  'proxy-hostname': [['proxy', 'hostnames'], 'HANGAR_PROXY_HOSTNAMES'],
  'public-host': [['publicHosts'], 'HANGAR_PUBLIC_HOSTS'],
  'dns-upstream': [['network', 'dnsUpstreams'], 'HANGAR_DNS_UPSTREAMS'],
  'tokenizer-ca': [['tokenizer', 'ca'], 'HANGAR_TOKENIZER_CA'],
  'tokenizer-allow-net': [['tokenizer', 'allowNets'], 'HANGAR_TOKENIZER_ALLOW_NETS'],
  'tcp-ports': [['proxy', 'tcpPorts'], 'HANGAR_TCP_PORTS'],
  'pull-allow': [['pullAllow'], 'HANGAR_PULL_ALLOW'],
}

export const configFlags: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
  ...Object.fromEntries(Object.keys(knobs).map((k) => [k, { type: 'string' as const }])),
  ...Object.fromEntries(Object.keys(lists).map((k) => [k, { type: 'string' as const, multiple: true }])),
  ...Object.fromEntries(Object.keys(switches).map((k) => [k, { type: 'boolean' as const }])),
}

function setPath(obj: Record<string, unknown>, path: string[], value: string | boolean | string[]): void {
  let o = obj
  for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>
  o[path[path.length - 1] as string] = value
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): DaemonConfig {
  const { values } = parseArgs({ args: argv, options: configFlags, strict: true, allowPositionals: false, allowNegative: true })
  const raw: Record<string, unknown> = {}
  for (const [flag, [path, envName]] of Object.entries({ ...knobs, ...switches })) {
    const v = (values as Record<string, string | boolean | undefined>)[flag] ?? env[envName]
    if (v !== undefined) setPath(raw, path, v)
  }
  for (const [flag, [path, envName]] of Object.entries(lists)) {
    const v = (values as Record<string, string[] | undefined>)[flag] ?? env[envName]?.split(',').map((x) => x.trim()).filter(Boolean)
    if (v !== undefined) setPath(raw, path, v)
  }
  return parse(configSchema, raw, 'configuration')
}

export function configUsage(): string {
  const lines = Object.entries(knobs).map(([flag, [, envName]]) => `  --${flag.padEnd(14)} (${envName})`)
  for (const [flag, [, envName]] of Object.entries(switches)) lines.push(`  --[no-]${flag.padEnd(9)} (${envName}=1|0)`)
  for (const [flag, [, envName]] of Object.entries(lists)) lines.push(`  --${flag.padEnd(14)} (${envName}, comma-separated; repeatable flag)`)
  return lines.join('\n')
}
