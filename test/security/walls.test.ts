/**
 * The walls, probed from inside as an attacker would: a Debian machine's root
 * runs fixtures/probe.pl (every escape route of issue 13 that a syscall can
 * try, none of them harmful), in machines of two apps, and ordinary work
 * (apt-get install, ping, fork) still goes through.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { startDaemon } from '../support/daemon.ts'

const probe = readFileSync(new URL('./fixtures/probe.pl', import.meta.url), 'utf8')

/** What each probe must answer. */
const refused: Record<string, string> = {
  userns: 'errno:EPERM', userns_netns: 'errno:EPERM', mountns: 'errno:EPERM', setns: 'errno:EPERM',
  keyctl: 'errno:EPERM', add_key: 'errno:EPERM', bpf: 'errno:EPERM', perf_event_open: 'errno:EPERM',
  userfaultfd: 'errno:EPERM', io_uring: 'errno:EPERM', fsopen: 'errno:EPERM', open_tree: 'errno:EPERM',
  mount_setattr: 'errno:EPERM', open_by_handle_at: 'errno:EPERM',
  // Its flags sit in memory seccomp cannot read: ENOSYS sends glibc back to clone, which is filtered.
  clone3: 'errno:ENOSYS',
  // CAP_NET_RAW is held (so file-capability programs exec) but its sockets are refused by the filter.
  mknod_tun: 'errno:EPERM', packet_socket: 'errno:EPERM', raw_icmp_socket: 'errno:EPERM',
  write_proc_sys: 'errno:EROFS', proc_interrupts: '', proc_keys: '', seccomp: '2',
}

test('a machine\'s root meets every wall, in machines of two apps, and ordinary work still works', { timeout: 600_000 }, async (t) => {
  const d = await startDaemon(t)
  await d.client.images.buildBase({})
  const hm = d.client.machines
  const machines: { app: string; m: Awaited<ReturnType<typeof hm.create>> }[] = []
  for (const app of ['walls-a', 'walls-b']) {
    await d.client.apps.create(app)
    machines.push({ app, m: await hm.create(app, { config: { image: 'debian' } }) })
  }

  const bases = new Set<string>()
  for (const { app, m } of machines) {
    await t.test(`${app}: every escape route is refused`, async () => {
      const res = await hm.exec(app, m.id, { command: ['perl', '-e', probe] })
      assert.equal(res.exit_code, 0, res.stderr)
      const seen = JSON.parse(res.stdout) as Record<string, string>
      t.diagnostic(`${app}: ${res.stdout.trim()}`)
      for (const [probeName, want] of Object.entries(refused)) assert.equal(seen[probeName], want, probeName)
      assert.equal(seen.cap_eff, '00000000800425fb', 'Docker\'s set without MKNOD and AUDIT_WRITE, within the machine\'s own user namespace')
      assert.equal(seen.fork, 'ok')
      assert.equal(seen.ping_socket, 'ok', 'ICMP echo sockets work without raw sockets')
      assert.equal(seen.ping_group_range?.split(/\s+/).join(' '), '0 65535', 'every group of the machine may ping')
      const map = /^\s*0\s+(\d+)\s+65536$/.exec(seen.uid_map ?? '')
      assert.ok(map && Number(map[1]) >= 2 ** 28, `root inside is an unprivileged host uid: ${seen.uid_map}`)
      bases.add(map[1]!)
      if (existsSync('/proc/sys/net/ipv6')) assert.equal(seen.accept_ra, '0', 'router advertisements are not accepted')
    })
  }

  await t.test('machines of two apps never share an id range', () => {
    assert.equal(bases.size, 2)
  })

  await t.test('as on a VM: apt-get installs ping, which reaches the gateway; setuid, su and chown work; files stay uid-0 based on disk', async () => {
    const { app, m } = machines[0]!
    const install = await hm.exec(app, m.id, { cmd: 'apt-get update -q && apt-get install -y -q --no-install-recommends iputils-ping', timeout: 600 })
    assert.equal(install.exit_code, 0, `apt-get failed:\n${install.stdout.slice(-2000)}\n${install.stderr.slice(-2000)}`)
    const gateway = String(m.private_ip).replace(/\.\d+$/, '.1')
    const ping = await hm.exec(app, m.id, { command: ['ping', '-c', '1', '-W', '3', gateway] })
    assert.equal(ping.exit_code, 0, `${ping.stdout}\n${ping.stderr}`)
    assert.match(ping.stdout, /1 received/)

    const setuid = await hm.exec(app, m.id, { cmd: 'cp /usr/bin/id /tmp/suid-id && chmod u+s /tmp/suid-id && setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/suid-id -u' })
    assert.equal(setuid.stdout.trim(), '0', `a setuid-root program runs as root: ${setuid.stderr}`)
    const su = await hm.exec(app, m.id, { cmd: 'su -s /bin/sh nobody -c "id -u"' })
    assert.equal(su.stdout.trim(), '65534', su.stderr)
    const chown = await hm.exec(app, m.id, { cmd: 'touch /owned && chown 1000:1000 /owned && stat -c %u:%g /owned' })
    assert.equal(chown.stdout.trim(), '1000:1000', chown.stderr)
    // On the host the upper layer holds the file as the image would: uid 1000, not base + 1000.
    const upper = join(d.dataDir, 'runtime', 'disks', 'machines', m.id, 'upper', 'owned')
    assert.equal(`${statSync(upper).uid}:${statSync(upper).gid}`, '1000:1000')
  })
})
