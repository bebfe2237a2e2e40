import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MmdebstrapProgress, type BuildProgress } from './base-progress.ts'

/** Abridged mmdebstrap --verbose stderr of a real bookworm build. */
const log = `I: automatically chosen mode: root
I: running apt-get update...
Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]
Get:3 http://deb.debian.org/debian bookworm/main amd64 Packages [8790 kB]
I: downloading packages with apt...
0 upgraded, 4 newly installed, 0 to remove and 0 not upgraded.
Get:1 http://deb.debian.org/debian bookworm/main amd64 gcc-12-base amd64 12.2.0-14+deb12u1 [37.6 kB]
Get:2 http://deb.debian.org/debian bookworm/main amd64 libc6 amd64 2.36-9+deb12u14 [2758 kB]
Get:3 http://deb.debian.org/debian-security bookworm-security/main amd64 libssl3 amd64 3.0.22-1~deb12u2 [2040 kB]
Get:4 http://deb.debian.org/debian-security bookworm-security/main amd64 ca-certificates all 20250419~deb12u2 [161 kB]
I: extracting archives...
I: installing essential packages...
Unpacking libc6:amd64 (2.36-9+deb12u14) ...
Setting up gcc-12-base:amd64 (12.2.0-14+deb12u1) ...
Setting up libc6:amd64 (2.36-9+deb12u14) ...
I: installing remaining packages inside the chroot...
Setting up libssl3:amd64 (3.0.22-1~deb12u2) ...
Setting up ca-certificates (20250419~deb12u2) ...
I: cleaning package lists and apt cache...
I: creating tarball...
I: done`

test('phases in order, downloads and set-ups counted against the planned total', () => {
  const p = new MmdebstrapProgress()
  const events = log.split('\n').map((l) => p.push(l)).filter((e): e is BuildProgress => e !== null)
  assert.deepEqual([...new Set(events.map((e) => e.phase))], ['resolving', 'downloading', 'extracting', 'installing', 'packing'])
  assert.deepEqual(events.filter((e) => e.phase === 'downloading' && e.percent !== undefined).map((e) => e.percent), [25, 50, 75, 100])
  assert.equal(events.find((e) => e.percent === 25)?.message, 'fetched gcc-12-base')
  assert.deepEqual(events.filter((e) => e.phase === 'installing' && e.percent !== undefined).map((e) => e.percent), [25, 50, 75, 100])
  assert.equal(events[0]?.message, 'running apt-get update')
})

test('index downloads during apt-get update are not package downloads; errors pass through', () => {
  const p = new MmdebstrapProgress()
  assert.equal(p.push('Get:3 http://deb.debian.org/debian bookworm/main amd64 Packages [8790 kB]'), null)
  assert.deepEqual(p.push('E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease'), { phase: 'resolving', message: 'E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease' })
})
