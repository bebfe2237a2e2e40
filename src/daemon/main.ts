/**
 * hangard: wires store, runtime, images, platform and the API into one process.
 * A clean shutdown (SIGTERM/SIGINT) leaves machines running; so does a crash.
 */
import { chmod, mkdir, writeFile, rm, readFile, rename } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import type { Logger } from 'pino'
import { createLogger } from './logger.ts'
import { openStore, type Store } from '../store/index.ts'
import { DRIVERS } from '../runtime/index.ts'
import { OwnHosts, openImageStore } from '../images/index.ts'
import { createPlatform, SecretBox, type Platform } from '../platform/index.ts'
import { createRestApp } from '../api/rest/index.ts'
import { attachConsole } from '../api/rest/console.ts'
import { MachineApiSockets } from '../api/rest/machine-api.ts'
import { createProxy, type Proxy } from '../proxy/index.ts'
import type { Server } from 'node:http'
import { HangarError, isHangarError, toHangarError } from '../errors.ts'
import type { DaemonConfig } from './config.ts'
import { ensureKeyFile } from './key-file.ts'
import { openTokenizer } from './tokenizer.ts'

export const version = '0.1.0'

/** How long the API keeps an idle client connection: longer than clients keep theirs. */
const API_KEEP_ALIVE_MS = 65_000

export interface Daemon {
  url: string
  /** The edge proxy's address: apps at <app>.<domain> on this port. */
  proxyUrl: string
  /** The HTTPS/h2 listener; trust <data-dir>/proxy/ca/ca.crt to verify it. */
  proxyHttpsUrl: string
  /** The tokenizer on the host (machines use it on their gateway). */
  tokenizerUrl: string
  platform: Platform
  proxy: Proxy
  close(): Promise<void>
}

async function ensureRootToken(platform: Platform, dataDir: string): Promise<string> {
  const file = join(dataDir, 'root-token')
  if (platform.tokens.any() && existsSync(file)) return file
  // The file first, then the row: a crash between them must not leave a token nobody can read.
  // A row without its file (a crash before this order, or a deleted file) gets a fresh root token.
  const token = platform.tokens.generate()
  await writeFile(`${file}.tmp`, token + '\n', { mode: 0o600 })
  await rename(`${file}.tmp`, file)
  platform.tokens.register('root', token)
  return file
}

/** The root key macaroons are signed with (<data-dir>/token-key). Deleting it invalidates every macaroon; the root token still works. */
export function ensureTokenKey(dataDir: string): Promise<Buffer> {
  return ensureKeyFile(dataDir, 'token-key', 'every scoped token then stops working')
}

/**
 * The key app secrets are sealed with (<data-dir>/secrets-key). A database that holds secrets
 * without its key (restored without it, or the file deleted) is refused rather than given a new
 * key that could never open them: the operator restores the key, or drops the secrets knowingly.
 */
export async function ensureSecretsKey(dataDir: string, store: Store): Promise<Buffer> {
  const file = join(dataDir, 'secrets-key')
  const hint = `restore ${file} from the backup taken with hangar.db (docs/operations.md); to give the secrets up instead, delete them `
    + `(sqlite3 ${join(dataDir, 'hangar.db')} 'DELETE FROM app_secrets'), start again and set them anew`
  if (!existsSync(file) && store.secrets.count() > 0) {
    throw new HangarError('unavailable', `${file} is missing, but the state database holds ${store.secrets.count()} sealed app secret(s) that only it opens`, { hint })
  }
  const key = await ensureKeyFile(dataDir, 'secrets-key', 'every stored app secret then has to be set again')
  // A key that does not open what is stored (another backup's) is said now, not at some machine's next start.
  const sealed = store.secrets.any()
  try {
    if (sealed) new SecretBox(key).open({ app: sealed.app_name, name: sealed.name, version: sealed.version }, sealed.value as Uint8Array)
  } catch (e) {
    throw new HangarError('secrets_unreadable', `${file} does not open the app secrets in the state database: ${(e as Error).message}`, { hint, cause: e })
  }
  return key
}

/**
 * Under memory pressure the kernel kills the process with the highest score: machines
 * (+500, from their bundle) go first, the daemon that writes down their state (−500) last.
 * Its children inherit the value; conmon, which must outlive its machine to record the exit,
 * lowers its own to −1000 where it may.
 */
export const daemonOomScoreAdj = -500

async function rankForOomKiller(logger: Logger): Promise<void> {
  try {
    await writeFile('/proc/self/oom_score_adj', String(daemonOomScoreAdj))
  } catch (e) {
    // Lowering a score needs CAP_SYS_RESOURCE, which root lacks in some containers: then machines still rank above the daemon's 0.
    logger.warn({ err: (e as Error).message }, 'could not lower the daemon\'s oom_score_adj; under memory pressure it may be killed before machines')
  }
}

export async function startDaemon(config: DaemonConfig): Promise<Daemon> {
  const logger = createLogger({ level: config.logLevel, format: config.logFormat })
  // A promise nobody awaited must not take every API client (and the exit feed) down with it.
  const onRejection = (reason: unknown): void => {
    logger.error({ err: reason instanceof Error ? reason.message : String(reason), stack: reason instanceof Error ? reason.stack : undefined }, 'unhandled promise rejection (a bug in Hangar); the daemon carries on')
  }
  process.on('unhandledRejection', onRejection)
  await rankForOomKiller(logger)
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
  // mkdir's mode only applies to a new directory: the layer cache holds setuid binaries
  // and device nodes from images, so no other host user may reach into the data dir.
  await chmod(config.dataDir, 0o700)
  const store = openStore({ path: join(config.dataDir, 'hangar.db') })
  // Before anything runs: a secrets key that cannot open what the database holds stops the start here.
  const tokenKey = await ensureTokenKey(config.dataDir)
  const secretsKey = await ensureSecretsKey(config.dataDir, store)
  const { dnsUpstreams, ...network } = config.network
  // Before anything listens: a bad --tokenizer-ca stops the start here. Machines' egress policies
  // are the platform's to judge; it exists before the tokenizer listens.
  let platformRef: Platform | undefined
  const tokenizer = await openTokenizer(config, logger, (source, host) => platformRef?.tokenizer.judgeEgress(source, host) ?? null)
  const driver = await DRIVERS[config.driver]({
    stateDir: join(config.dataDir, 'runtime'),
    network: { ...network, gatewayPorts: [config.tokenizer.gatewayPort] },
    dnsUpstreams,
    machinesFs: config.disks.fs.kind === 'image' && config.disks.fsSize ? { kind: 'image', sizeBytes: config.disks.fsSize } : config.disks.fs,
    defaultDiskBytes: config.disks.rootfsSize,
    diskOvercommit: config.disks.overcommit,
    logger,
  })
  // Our own addresses are known once the API listens; until then no reference can name them anyway.
  const own = new OwnHosts()
  own.add(...config.publicHosts)
  const images = await openImageStore({ root: join(config.dataDir, 'images'), own, pullAllow: config.pullAllow })
  const platform = await createPlatform({
    store, tokenKey, secretsKey, driver, images, logger, region: config.region, checkpointRetention: config.checkpointRetention, tcpPorts: config.proxy.tcpPorts,
    tokenizer: { sealKey: tokenizer.sealKey, where: () => tokenizer.where() },
    capacity: { hostMemoryMb: Math.floor(totalmem() / 2 ** 20), memoryShare: config.capacity.maxMemoryShare, hostCpus: cpus().length, cpuOvercommit: config.capacity.cpuOvercommit },
    disk: { dir: config.dataDir, minFreeBytes: config.minFreeDisk },
  })
  platformRef = platform
  const tokenFile = await ensureRootToken(platform, config.dataDir)
  const api = createRestApp({ platform, logger, version, ownHosts: own })
  // /.fly/api in every machine: the Machines API for the machine's own app, before the API port opens.
  const machineApi = config.machineApi && driver.machineApiDir
    ? new MachineApiSockets({ app: api.app, platform, logger, dirOf: (id) => (driver.machineApiDir as (id: string) => string)(id) })
    : null
  if (machineApi) await platform.serveMachineApi(machineApi)
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: api.app.fetch, hostname: config.api.host, port: config.api.port }, () => resolve(s))
    // Node's 5 s default closes idle connections while clients still hold them (a client whose event loop
    // was busy sends its next request into the closed socket: "other side closed"); keep them a minute.
    ;(s as Server).keepAliveTimeout = API_KEEP_ALIVE_MS
    s.once('error', (e) => reject(listenError(e, `${config.api.host}:${config.api.port}`, '--api-port / HANGAR_API_PORT')))
  })
  attachConsole(server as Server, platform, logger)
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : config.api.port
  const host = config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host
  const url = `http://${host}:${port}`
  own.addListener(config.api.host, port)
  const proxy = createProxy({
    platform,
    logger,
    config: { ...config.proxy, dir: join(config.dataDir, 'proxy'), region: config.region, idleMs: config.proxy.autostopIdle, wakeTimeoutMs: config.proxy.wakeTimeout },
  })
  // Machine views (REST, MCP) report the health checks the proxy runs.
  platform.reportChecks((id) => proxy.checks(id))
  const listening = await proxy.listen().catch((e: unknown) => {
    throw listenError(e, `the proxy's ports (${config.proxy.port}, https ${config.proxy.httpsPort})`, '--proxy-port / --proxy-https-port')
  })
  const proxyUrl = listening.url
  const proxyHttpsUrl = listening.httpsUrl as string
  const tokenizerUrl = await tokenizer.listen()
  // A machine network's gateway exists once its bridge does: try it whenever a machine comes or goes.
  const stopReaching = platform.events.subscribe(() => tokenizer.reachGateways())
  // Written then renamed: a reader (the CLI, a test) never sees half a file.
  await writeFile(join(config.dataDir, 'daemon.json.tmp'), JSON.stringify({ pid: process.pid, url, proxyUrl, proxyHttpsUrl, tokenizerUrl, version }) + '\n')
  await rename(join(config.dataDir, 'daemon.json.tmp'), join(config.dataDir, 'daemon.json'))
  logger.info({ url, proxy: proxyUrl, proxy_https: proxyHttpsUrl, proxy_ca: listening.caCertPath, tokenizer: tokenizerUrl, tokenizer_seal_key: tokenizer.sealKey, token_file: tokenFile, driver: driver.name, capabilities: driver.capabilities, capacity: platform.capacity() }, 'hangard listening')
  if (config.baseImage) void ensureBaseImage(platform, logger)
  return {
    url,
    proxyUrl,
    proxyHttpsUrl,
    tokenizerUrl,
    platform,
    proxy,
    async close() {
      stopReaching()
      await tokenizer.close()
      await proxy.close()
      await machineApi?.shutdown()
      await api.close()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Open streams (an MCP call, a followed log) would hold close() forever: cut them after a grace period.
      const cut = setTimeout(() => 'closeAllConnections' in server && server.closeAllConnections(), 2000)
      await closed
      clearTimeout(cut)
      platform.close()
      await driver.close()
      store.close()
      await rm(join(config.dataDir, 'daemon.json'), { force: true })
      process.off('unhandledRejection', onRejection)
      logger.info('hangard stopped; machines keep running')
    },
  }
}

/**
 * First start: with no `debian` image, build it in the background so
 * `hangar machine run debian` works out of the box. Never blocks the API and
 * never fails the daemon: without mmdebstrap or the archive it only warns.
 */
async function ensureBaseImage(platform: Platform, logger: Logger): Promise<void> {
  try {
    await platform.images.resolve('debian')
    return
  } catch (e) {
    if (!isHangarError(e) || e.code !== 'image_not_found') {
      logger.warn({ err: String(e) }, 'cannot check for the debian image; skipping the base image build')
      return
    }
  }
  logger.info('no debian image: building the Debian base image in the background (`hangar image build-base` shows its progress; --no-base-image turns this off)')
  let mark = ''
  try {
    const img = await platform.images.buildBase({}, (p) => {
      // Each phase, and each quarter of it: enough to follow in a log, not one line per package.
      const m = `${p.phase}:${p.percent === undefined ? '' : Math.floor(p.percent / 25)}`
      logger[m === mark ? 'debug' : 'info']({ phase: p.phase, percent: p.percent }, `base image: ${p.message}`)
      mark = m
    })
    logger.info({ ref: img.ref, digest: img.digest, size: img.size }, 'Debian base image ready: hangar machine run debian')
  } catch (e) {
    const err = toHangarError(e)
    logger.warn({ code: err.code, hint: err.hint, details: err.details }, `could not build the Debian base image: ${err.message}; \`hangar machine run debian\` needs it, so run \`hangar image build-base\` once this is fixed`)
  }
}

/** A port already taken is the usual reason a start fails: say which and what to do. */
function listenError(e: unknown, where: string, knob: string): unknown {
  if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') return e
  return new HangarError('unavailable', `${where} is already in use (another \`hangar up\`?)`, {
    hint: `stop whatever listens there, or choose another port with ${knob}`,
    cause: e,
  })
}

/** The address of the daemon running on this data dir, if any. */
export async function readDaemonInfo(dataDir: string): Promise<{ pid: number; url: string } | null> {
  try {
    return JSON.parse(await readFile(join(dataDir, 'daemon.json'), 'utf8'))
  } catch {
    return null
  }
}
