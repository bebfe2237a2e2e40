/**
 * A real hangard in its own process, on a temp data dir, port 0 and a private
 * network (bridge, subnet, CNI name) so test files can run side by side. Its
 * cleanup force-destroys every machine, stops the daemon and removes the bridge.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'node:test'
import { Hangar } from '../../src/sdk/index.ts'
import { removeFirewallTables } from './runtime.ts'
import { claimSubnetIndex } from './subnets.ts'
import { unmountMachinesFs } from '../../src/runtime/index.ts'

const root = new URL('../../', import.meta.url).pathname
export const nodeBin = process.execPath
export const cliMain = join(root, 'src/cli/main.ts')

export interface TestDaemon {
  url: string
  /** The edge proxy (ephemeral port): send requests with Host: <app>.localhost. */
  proxyUrl: string
  /** The proxy's HTTPS/h2 listener (ephemeral port); its CA is <dataDir>/proxy/ca/ca.crt. */
  proxyHttpsUrl: string
  /** The tokenizer on loopback (ephemeral port); machines reach it on their gateway, port 4283. */
  tokenizerUrl: string
  token: string
  dataDir: string
  client: Hangar
  /** Environment that points the CLI at this daemon. */
  env: NodeJS.ProcessEnv
  pid(): number
  /** What the daemon printed (stdout and stderr) since it last started. */
  log(): string
  /** kill -9 the daemon (machines must survive). */
  crash(): Promise<void>
  /** A clean SIGTERM shutdown (machines must keep running). */
  shutdown(): Promise<void>
  /** Starts the daemon again on the same data dir. */
  restart(): Promise<void>
}

let counter = 0

/** A network of the test's own (name, bridge, /24, /64), for anything that starts a daemon. */
export function netArgs(): string[] {
  const n = claimSubnetIndex()
  counter++
  const tag = `t${(process.pid % 10000).toString(36)}${counter}`
  return ['--network-name', `hgt-${tag}`, '--bridge', `hg${tag}`.slice(0, 15), '--subnet', `10.210.${n}.0/24`, '--subnet6', `fd68:616e:6761:${n.toString(16)}::/64`]
}

/** How long a daemon may take to come up: seconds on a quiet host, far more on two cores under a full suite's load. */
const startTimeoutMs = 60_000

/** Waits for the daemon's ready file; a daemon that does not get there is killed, so no test process is held open by it. */
async function waitForFile(file: string, child: ChildProcess, stderr: () => string): Promise<string> {
  const deadline = Date.now() + startTimeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}:\n${stderr()}`)
    try {
      const text = await readFile(file, 'utf8')
      JSON.parse(text)
      return text
    } catch {
      await sleep(50)
    }
  }
  child.kill('SIGKILL')
  throw new Error(`daemon did not start in ${startTimeoutMs / 1000} s:\n${stderr()}`)
}

/** `opts.dataDir`: an existing directory to use instead of a fresh temp one (e.g. on a small filesystem the test made). */
export async function startDaemon(t: TestContext, extraArgs: string[] = [], opts: { dataDir?: string } = {}): Promise<TestDaemon> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'hangar-test-')))
  // --no-base-image: a test daemon must not start a minutes-long mmdebstrap build of its own.
  // A small machines filesystem of its own (a 2 GB btrfs image), thinly shared: tests run many daemons side by side.
  const disks = ['--machines-fs-size', '2G', '--rootfs-size', '256M', '--disk-overcommit', '8']
  // The DNS forwarder of domain-policy apps must never ask the host's real resolvers: a dead loopback port unless the test names one.
  const dns = extraArgs.includes('--dns-upstream') ? [] : ['--dns-upstream', '127.0.0.1:9']
  // Pulls from another test daemon's registry on loopback, which a daemon refuses unless its operator allows it.
  const pulls = extraArgs.includes('--pull-allow') ? [] : ['--pull-allow', '127.0.0.0/8', '--pull-allow', '::1/128']
  const args = ['up', '--data-dir', dataDir, '--api-port', '0', '--proxy-port', '0', '--proxy-https-port', '0', '--tokenizer-port', '0', ...disks, ...dns, ...pulls, ...extraArgs, '--log-level', process.env.HANGAR_TEST_LOG ?? 'warn', '--no-base-image', ...netArgs()]
  const bridge = args[args.indexOf('--bridge') + 1] as string
  let child!: ChildProcess
  let log = ''
  const launch = async (): Promise<void> => {
    await rm(join(dataDir, 'daemon.json'), { force: true })
    log = ''
    child = spawn(nodeBin, [cliMain, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout!.on('data', (d) => (log += d))
    child.stderr!.on('data', (d) => (log += d))
    await waitForFile(join(dataDir, 'daemon.json'), child, () => log)
  }
  await launch()
  const info = (): Promise<{ url: string; proxyUrl: string; proxyHttpsUrl: string; tokenizerUrl: string }> => readFile(join(dataDir, 'daemon.json'), 'utf8').then(JSON.parse)
  const token = (await readFile(join(dataDir, 'root-token'), 'utf8')).trim()
  const d: TestDaemon = {
    url: (await info()).url,
    proxyUrl: (await info()).proxyUrl,
    proxyHttpsUrl: (await info()).proxyHttpsUrl,
    tokenizerUrl: (await info()).tokenizerUrl,
    token,
    dataDir,
    client: new Hangar({ baseUrl: (await info()).url, token }),
    env: { ...process.env, HANGAR_DATA_DIR: dataDir, HANGAR_API_URL: '', HANGAR_TOKEN: token },
    pid: () => child.pid!,
    log: () => log,
    async crash() {
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
    },
    async shutdown() {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    },
    async restart() {
      await launch()
      d.url = (await info()).url
      d.proxyUrl = (await info()).proxyUrl
      d.proxyHttpsUrl = (await info()).proxyHttpsUrl
      d.tokenizerUrl = (await info()).tokenizerUrl
      d.client = new Hangar({ baseUrl: d.url, token })
      d.env = { ...d.env, HANGAR_API_URL: d.url }
    },
  }
  d.env.HANGAR_API_URL = d.url
  t.after(async () => {
    try {
      for (const app of (await d.client.apps.list()).apps) await d.client.apps.destroy(app.name, { force: true })
    } catch (e) {
      process.stderr.write(`cleanup: ${(e as Error).message}\n${log}\n`)
    }
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' })
    } catch {
      /* never created */
    }
    removeFirewallTables(args[args.indexOf('--network-name') + 1] as string)
    // Frees the image's loop device; the machines, whose disks were on it, are gone.
    await unmountMachinesFs(join(dataDir, 'runtime')).catch((e: unknown) => process.stderr.write(`cleanup: ${(e as Error).message}\n`))
    await rm(dataDir, { recursive: true, force: true })
  })
  return d
}
