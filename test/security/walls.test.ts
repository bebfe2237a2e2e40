/**
 * The walls, probed from inside as an attacker would: a Debian machine's root
 * runs fixtures/probe.pl (every escape route of issue 13 that a syscall can
 * try, none of them harmful), in machines of two apps, and ordinary work
 * (apt-get install, ping, fork) still goes through.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
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

  for (const { app, m } of machines) {
    await t.test(`${app}: every escape route is refused`, async () => {
      const res = await hm.exec(app, m.id, { command: ['perl', '-e', probe] })
      assert.equal(res.exit_code, 0, res.stderr)
      const seen = JSON.parse(res.stdout) as Record<string, string>
      t.diagnostic(`${app}: ${res.stdout.trim()}`)
      for (const [probeName, want] of Object.entries(refused)) assert.equal(seen[probeName], want, probeName)
      assert.equal(seen.cap_eff, '00000000800405fb', 'Podman\'s capability set: no NET_RAW, MKNOD, AUDIT_WRITE')
      assert.equal(seen.fork, 'ok')
      assert.equal(seen.ping_socket, 'ok', 'ICMP echo sockets work without CAP_NET_RAW')
      assert.equal(seen.ping_group_range?.split(/\s+/).join(' '), '0 65535')
      if (existsSync('/proc/sys/net/ipv6')) assert.equal(seen.accept_ra, '0', 'router advertisements are not accepted')
    })
  }

  await t.test('apt-get installs a package; an ICMP echo reaches the gateway without CAP_NET_RAW', async () => {
    const { app, m } = machines[0]!
    const install = await hm.exec(app, m.id, { cmd: 'apt-get update -q && apt-get install -y -q --no-install-recommends jq', timeout: 600 })
    assert.equal(install.exit_code, 0, `apt-get failed:\n${install.stdout.slice(-2000)}\n${install.stderr.slice(-2000)}`)
    const gateway = String(m.private_ip).replace(/\.\d+$/, '.1')
    // What ping does without CAP_NET_RAW: an ICMP datagram socket (the kernel fills in id and checksum).
    const echo = 'use Socket; socket(my $s, PF_INET, SOCK_DGRAM, 1) or die "socket: $!"; '
      + 'send($s, pack("CCnnn", 8, 0, 0, 0, 1) . "hangar", 0, sockaddr_in(0, inet_aton($ARGV[0]))) or die "send: $!"; '
      + 'my $rin = ""; vec($rin, fileno($s), 1) = 1; select($rin, undef, undef, 3) or die "no reply"; '
      + 'recv($s, my $buf, 64, 0); my ($type) = unpack("C", $buf); print "type $type\n"'
    const ping = await hm.exec(app, m.id, { command: ['perl', '-e', echo, gateway] })
    assert.equal(ping.exit_code, 0, `${ping.stdout}\n${ping.stderr}`)
    assert.equal(ping.stdout, 'type 0\n', 'an echo reply came back')
  })
})
