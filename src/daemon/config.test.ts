import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from './config.ts'

test('disk flags: the machines filesystem by kind, sizes with units, the environment below the flags', () => {
  const d = loadConfig([], {}).disks
  assert.deepEqual(d, { fs: { kind: 'image' }, rootfsSize: 4 * 2 ** 30, overcommit: 1 })
  const set = (args: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(args, env).disks
  assert.deepEqual(set(['--machines-fs', 'none']).fs, { kind: 'none' })
  assert.deepEqual(set(['--machines-fs', '/dev/nvme1n1p1']).fs, { kind: 'device', device: '/dev/nvme1n1p1' })
  assert.deepEqual(set(['--machines-fs', '/srv/hangar-disks']).fs, { kind: 'path', path: '/srv/hangar-disks' })
  assert.equal(set(['--machines-fs-size', '40G']).fsSize, 40 * 2 ** 30)
  assert.equal(set(['--rootfs-size', '512M']).rootfsSize, 512 * 2 ** 20)
  assert.equal(set(['--rootfs-size', '1.5GiB']).rootfsSize, 1.5 * 2 ** 30)
  assert.equal(set([], { HANGAR_ROOTFS_SIZE: '2G' }).rootfsSize, 2 * 2 ** 30)
  assert.equal(set(['--rootfs-size', '1G'], { HANGAR_ROOTFS_SIZE: '2G' }).rootfsSize, 2 ** 30)
  assert.equal(set(['--disk-overcommit', '2.5']).overcommit, 2.5)
  for (const bad of [['--machines-fs', 'xfs'], ['--rootfs-size', 'lots'], ['--disk-overcommit', '0.5']]) {
    assert.throws(() => set(bad), { code: 'invalid_argument' }, bad.join(' '))
  }
})

test('capacity and disk knobs: defaults, environment, then flags; sizes in 1024s', () => {
  const d = loadConfig([], {})
  assert.deepEqual(d.capacity, { maxMemoryShare: 0.9, cpuOvercommit: 4 })
  assert.equal(d.minFreeDisk, 256 * 2 ** 20)
  const c = loadConfig(['--cpu-overcommit', '2', '--min-free-disk', '1.5G'], { HANGAR_MAX_MEMORY_SHARE: '0.5', HANGAR_CPU_OVERCOMMIT: '8', HANGAR_MIN_FREE_DISK: '64MB' })
  assert.deepEqual(c.capacity, { maxMemoryShare: 0.5, cpuOvercommit: 2 })
  assert.equal(c.minFreeDisk, 1.5 * 2 ** 30)
  assert.equal(loadConfig([], { HANGAR_MIN_FREE_DISK: '64MiB' }).minFreeDisk, 64 * 2 ** 20)
  assert.equal(loadConfig(['--min-free-disk', '0'], {}).minFreeDisk, 0)
})

test('out-of-range capacity knobs and malformed sizes are refused naming the field', () => {
  assert.throws(() => loadConfig(['--max-memory-share', '0'], {}), /maxMemoryShare/)
  assert.throws(() => loadConfig(['--cpu-overcommit=-1'], {}), /cpuOvercommit/)
  assert.throws(() => loadConfig(['--min-free-disk', 'lots'], {}), /minFreeDisk.*size like/)
})

test('tokenizer knobs: loopback 4283 and the same port on each gateway by default; CA files and allowed blocks repeat', () => {
  assert.deepEqual(loadConfig([], {}).tokenizer, { host: '127.0.0.1', port: 4283, gatewayPort: 4283, ca: [], allowNets: [] })
  const c = loadConfig(['--tokenizer-port', '0', '--tokenizer-ca', '/etc/a.pem', '--tokenizer-ca', '/etc/b.pem', '--tokenizer-allow-net', '127.0.0.0/8'], { HANGAR_TOKENIZER_GATEWAY_PORT: '9000' })
  assert.deepEqual(c.tokenizer, { host: '127.0.0.1', port: 0, gatewayPort: 9000, ca: ['/etc/a.pem', '/etc/b.pem'], allowNets: ['127.0.0.0/8'] })
  assert.deepEqual(loadConfig([], { HANGAR_TOKENIZER_ALLOW_NETS: '10.5.0.0/16, 192.168.1.0/24' }).tokenizer.allowNets, ['10.5.0.0/16', '192.168.1.0/24'])
  assert.throws(() => loadConfig(['--tokenizer-allow-net', '10.0.0.5/8'], {}), /allowNets/)
  assert.throws(() => loadConfig(['--tokenizer-gateway-port', '0'], {}), /gatewayPort/)
})

test('operator limits: TCP service ports, pull targets and the in-machine API, with their defaults', () => {
  const d = loadConfig([], {})
  assert.deepEqual(d.proxy.tcpPorts, [{ first: 10000, last: 10999 }])
  assert.deepEqual(d.pullAllow, [])
  assert.equal(d.machineApi, true)
  const c = loadConfig(['--tcp-ports', '15432', '--tcp-ports', '20000-20099', '--pull-allow', '127.0.0.0/8', '--pull-allow', '::1', '--no-machine-api'], {})
  assert.deepEqual(c.proxy.tcpPorts, [{ first: 15432, last: 15432 }, { first: 20000, last: 20099 }])
  assert.deepEqual(c.pullAllow, ['127.0.0.0/8', '::1/128'])
  assert.equal(c.machineApi, false)
  assert.deepEqual(loadConfig([], { HANGAR_TCP_PORTS: 'none' }).proxy.tcpPorts, [])
  assert.deepEqual(loadConfig([], { HANGAR_PULL_ALLOW: '10.0.0.0/8, 192.168.1.0/24' }).pullAllow, ['10.0.0.0/8', '192.168.1.0/24'])
  assert.throws(() => loadConfig(['--tcp-ports', '22-21'], {}), /tcpPorts.*ends before it starts/)
  assert.throws(() => loadConfig(['--pull-allow', '10.0.0.5/8'], {}), /pullAllow.*host bits/)
})
