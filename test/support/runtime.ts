/**
 * Fixtures for runtime tests: a busybox root filesystem used as a single
 * image layer, a private test network per driver, and checks that a machine
 * left nothing behind. Each fixture registers its own cleanup on the test.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { machineId } from '../../src/lib/ids.ts'
import { unmountMachinesFs, type MachineSpec, type MachinesFsOptions } from '../../src/runtime/index.ts'
import type { NetworkOptions } from '../../src/runtime/index.ts'
import { claimSubnetIndex } from './subnets.ts'

/** Anything that runs cleanups later: a TestContext, or a suite's own list. */
export interface Cleanup {
  after: (fn: () => unknown) => unknown
}

/** A cleanup list for suites: register with `after`, run them all with `run` in the suite's after hook. */
export function cleanupList(): Cleanup & { run: () => Promise<void> } {
  const fns: (() => unknown)[] = []
  return {
    after: (fn) => fns.push(fn),
    run: async () => {
      for (const fn of fns.splice(0).reverse()) await fn()
    },
  }
}

const APPLETS = ['sh', 'httpd', 'sleep', 'cat', 'echo', 'dd', 'head', 'ls', 'id', 'kill', 'wc', 'true', 'false', 'env', 'trap', 'hostname', 'pwd', 'touch', 'rm', 'mkdir', 'yes', 'tr', 'grep', 'ps', 'wget']

/** A temp dir removed after the test (or suite). */
export function useTmp(t: Cleanup, prefix = 'hangar-rt-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A minimal image layer: static busybox with applet links, /etc/passwd with
 * root and nobody, and /www/index.html for httpd.
 */
export function busyboxLayer(t: Cleanup): string {
  const root = join(useTmp(t, 'hangar-layer-'), 'layer')
  for (const d of ['bin', 'etc', 'www', 'tmp', 'root', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true })
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'))
  execFileSync('chmod', ['755', join(root, 'bin/busybox')])
  for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a))
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n')
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\nstaff:x:50:nobody\n')
  writeFileSync(join(root, 'www/index.html'), 'hello from hangar\n')
  execFileSync('chmod', ['1777', join(root, 'tmp')])
  return root
}

/** A private bridge network with a random /24 and ULA /64; the bridge is deleted after the test. */
export function testNetwork(t: Cleanup): NetworkOptions {
  const tag = randomBytes(3).toString('hex')
  const net = {
    name: `hangar-test-${tag}`,
    bridge: `hgt${tag}`,
    subnet: `10.209.${claimSubnetIndex()}.0/24`,
    subnet6: `fd${randomBytes(1).toString('hex')}:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::/64`,
  }
  t.after(() => {
    try {
      execFileSync('ip', ['link', 'del', net.bridge], { stdio: 'ignore' })
    } catch {
      // never created
    }
    removeFirewallTables(net.name)
  })
  return net
}

/** The nftables tables a driver keeps for its network (they outlive the daemon on purpose; tests clean them). */
export function removeFirewallTables(network: string): void {
  const t = `hangar_${network.replace(/[^A-Za-z0-9_]/g, '_')}`
  execFileSync('nft', ['-f', '-'], { input: `add table bridge ${t}\ndelete table bridge ${t}\nadd table inet ${t}\ndelete table inet ${t}\n`, stdio: ['pipe', 'ignore', 'ignore'] })
}

/** A spec running args over the given layer; small and quick to stop. */
export function machineSpec(layer: string, args: string[], over: Partial<MachineSpec> = {}): MachineSpec {
  return {
    id: machineId(),
    layers: [layer],
    process: { args, env: ['GREETING=hi'], cwd: '/' },
    guest: { cpus: 1, memoryMb: 128 },
    stopSignal: 'SIGTERM',
    ...over,
  }
}

/** Every trace a machine can leave on the host, for "destroy leaves nothing" checks. */
export function hostTraces(opts: { id: string; stateDir: string; hostVeth: string | null; netnsPrefix?: string }): string[] {
  const found: string[] = []
  const mountinfo = execFileSync('cat', ['/proc/self/mountinfo']).toString()
  if (mountinfo.includes(opts.id)) found.push('mount')
  const netns = execFileSync('ip', ['netns', 'list']).toString()
  if (netns.includes(opts.id)) found.push('netns')
  if (opts.hostVeth && execFileSync('ip', ['-o', 'link']).toString().includes(`${opts.hostVeth}@`)) found.push('veth')
  const rules = execFileSync('iptables-save').toString() + execFileSync('ip6tables-save').toString()
  if (rules.includes(opts.id)) found.push('iptables')
  try {
    execFileSync('ls', [join(opts.stateDir, 'runc', opts.id)], { stdio: 'ignore' })
    found.push('runc state')
  } catch {
    // gone, as it should be
  }
  for (const disk of [join(opts.stateDir, 'disks', 'machines', opts.id)]) if (existsSync(disk)) found.push('machine disk')
  try {
    execFileSync('ls', [join(opts.stateDir, 'machines', opts.id)], { stdio: 'ignore' })
    found.push('machine dir')
  } catch {
    // gone
  }
  return found
}

export const MiB = 2 ** 20
export const GiB = 2 ** 30

/**
 * A small machines filesystem (a btrfs image of `sizeBytes`) for a driver over stateDir, unmounted
 * (which frees its loop device) when `t` cleans up: register it after the stateDir's own cleanup.
 */
export function testMachinesFs(t: Cleanup, stateDir: string, sizeBytes = GiB): MachinesFsOptions {
  t.after(() => unmountMachinesFs(stateDir))
  return { kind: 'image', sizeBytes }
}
