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
