/**
 * The network walls, probed with real traffic between real machines and
 * namespaces this test makes: "the LAN" (a private 192.168 block) and "the
 * internet" (198.51.100.0/24, TEST-NET-2, routed nowhere beyond this host),
 * each a netns on a veth with a busybox httpd; the internet also runs a DNS
 * server (test/support/dns-server.ts), the daemon's only DNS upstream.
 * Nothing is sent anywhere else, DNS included.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { daemonWithBusybox } from '../support/machines.ts'

const execFileAsync = promisify(execFile)

/** A host of our own: a netns behind a veth from the host, serving each address's body on :8080. Returns the netns. */
function testHost(t: TestContext, tag: string, hostIp: string, sites: Record<string, string>): string {
  const ns = `hgt-${tag}-${process.pid % 100000}`
  const [outer, inner] = [`ho${tag}${process.pid % 10000}`, `hi${tag}${process.pid % 10000}`].map((n) => n.slice(0, 15))
  const sh = (...args: string[]) => execFileSync('ip', args, { stdio: 'ignore' })
  sh('netns', 'add', ns)
  sh('link', 'add', outer as string, 'type', 'veth', 'peer', 'name', inner as string)
  sh('link', 'set', inner as string, 'netns', ns)
  sh('addr', 'add', `${hostIp}/24`, 'dev', outer as string)
  sh('link', 'set', outer as string, 'up')
  for (const nsIp of Object.keys(sites)) sh('-n', ns, 'addr', 'add', `${nsIp}/24`, 'dev', inner as string)
  sh('-n', ns, 'link', 'set', inner as string, 'up')
  sh('-n', ns, 'link', 'set', 'lo', 'up')
  const served = Object.entries(sites).map(([nsIp, body]) => {
    const www = mkdtempSync(join(tmpdir(), 'hangar-www-'))
    writeFileSync(join(www, 'index.html'), body)
    return { www, httpd: spawn('ip', ['netns', 'exec', ns, '/bin/busybox', 'httpd', '-f', '-p', `${nsIp}:8080`, '-h', www], { stdio: 'ignore' }) }
  })
  t.after(() => {
    for (const { httpd } of served) httpd.kill('SIGKILL')
    try {
      sh('link', 'del', outer as string)
    } catch {
      // went with the netns
    }
    sh('netns', 'del', ns)
    for (const { www } of served) rmSync(www, { recursive: true, force: true })
  })
  return ns
}

/** The test DNS server inside a namespace of ours, answering from `records`. */
async function testDns(t: TestContext, ns: string, ip: string, records: Record<string, string>): Promise<void> {
  const server = new URL('../support/dns-server.ts', import.meta.url).pathname
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, server, ip, '53', ...Object.entries(records).map(([n, a]) => `${n}=${a}`)], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => child.kill('SIGKILL'))
  await new Promise<void>((ok, fail) => {
    child.stdout!.once('data', () => ok())
    child.once('exit', (code) => fail(new Error(`test DNS server exited with ${code}`)))
  })
}

test('apps apart at L2 and L3, no spoofing, no host services or LAN, the internet through NAT, and a per-app egress policy', { timeout: 180_000 }, async (t) => {
  // The forwarder's only upstream is the DNS server in our "internet".
  const d = await daemonWithBusybox(t, 'net-a', ['--dns-upstream', '198.51.100.2'])
  await d.client.apps.create('net-b')
  const hm = d.client.machines
  const [a1, a2, b1] = await Promise.all([hm.create('net-a', { config: { image: d.image } }), hm.create('net-a', { config: { image: d.image } }), hm.create('net-b', { config: { image: d.image } })])
  const gateway = String(a1.private_ip).replace(/\.\d+$/, '.1')
  const lanNet = `192.168.${200 + (process.pid % 50)}`
  testHost(t, 'lan', `${lanNet}.1`, { [`${lanNet}.2`]: 'lan\n' })
  // Link-local, as cloud metadata services are: a block of our own, never the host's real metadata address.
  const linkLocal = `169.254.${200 + (process.pid % 50)}`
  testHost(t, 'll', `${linkLocal}.1`, { [`${linkLocal}.2`]: 'metadata\n' })
  const internet = testHost(t, 'net', '198.51.100.1', { '198.51.100.2': 'internet\n', '198.51.100.3': 'denied\n' })
  await testDns(t, internet, '198.51.100.2', { 'allowed.test': '198.51.100.2', 'denied.test': '198.51.100.3' })
  // A service on the host, on the bridge's own address, which machines must not reach.
  const hostService = createServer((_, res) => res.end('host\n'))
  await new Promise<void>((r) => hostService.listen(0, gateway, r))
  t.after(() => hostService.close())
  const hostPort = (hostService.address() as { port: number }).port

  const get = async (m: typeof a1, url: string): Promise<string | null> => {
    // busybox's static wget crashes resolving names on Debian 12; nc speaks the HTTP/1.0 it needs.
    const u = new URL(url)
    const r = await hm.exec(m === b1 ? 'net-b' : 'net-a', m.id, { cmd: `printf 'GET ${u.pathname} HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${u.hostname} ${u.port || 80}` })
    const body = r.stdout.split('\r\n\r\n')[1]
    return r.exit_code === 0 && /^HTTP\/1\.[01] 200/.test(r.stdout) && body !== undefined ? body : null
  }
  const reaches = async (m: typeof a1, url: string, want: string | null, why: string) => assert.equal(await get(m, url), want, why)

  await t.test('machines of one app reach each other; another app\'s are out of reach both ways', async () => {
    await reaches(a1, `http://${a2.private_ip}:8080/`, 'hello from hangar\n', 'same app')
    await reaches(a1, `http://${b1.private_ip}:8080/`, null, 'a → b')
    await reaches(b1, `http://${a1.private_ip}:8080/`, null, 'b → a')
  })

  await t.test('the host\'s own services, the LAN and link-local are refused; the internet is reached through NAT', async () => {
    await reaches(a1, `http://${gateway}:${hostPort}/`, null, 'a host service on the bridge address')
    await reaches(a1, `http://${lanNet}.2:8080/`, null, 'the LAN')
    await reaches(a1, `http://${linkLocal}.2:8080/`, null, 'link-local (where cloud metadata lives)')
    await reaches(a1, 'http://198.51.100.2:8080/', 'internet\n', 'the internet')
  })

  // Asynchronous: a test blocked in synchronous commands for seconds is not how clients behave.
  const run = async (cmd: string, ...args: string[]) => (await execFileAsync(cmd, args, { encoding: 'utf8' })).stdout
  /** The bridge table holding a machine's port chain. */
  const tableOf = async (id: string): Promise<string> => {
    for (const name of (await run('nft', 'list', 'tables')).match(/table bridge (hangar_\S+)/g)?.map((l) => l.split(' ')[2]!) ?? []) {
      if ((await run('nft', 'list', 'table', 'bridge', name)).includes(`from_${id}`)) return name
    }
    throw new Error(`no bridge table holds from_${id}`)
  }
  /** Packets the firewall dropped for a machine's port, by what the rule compares ("ether saddr", " ip saddr", …). */
  const dropped = async (table: string, id: string, match: string): Promise<number> => {
    const rules = (await run('nft', 'list', 'chain', 'bridge', table, `from_${id}`)).split('\n')
    // nft lists rules without their implied dependencies ("ether type arp"), so match inside the line.
    return rules.filter((l) => l.includes(`${match} !=`)).reduce((n, l) => n + Number(/counter packets (\d+)/.exec(l)?.[1] ?? 0), 0)
  }

  await t.test('a port may only send with its own MAC and IP', async () => {
    const ns = `hangar-${a1.id}`
    const ip = (...args: string[]) => run('ip', '-n', ns, ...args)
    const mac = (JSON.parse(await ip('-j', 'link', 'show', 'eth0')) as { address: string }[])[0]!.address
    const table = await tableOf(a1.id)
    // A forged address shows first in ARP (its request carries it), then in IP if the neighbour was cached.
    const forgedIpDrops = async () => (await dropped(table, a1.id, 'arp saddr ip')) + (await dropped(table, a1.id, ' ip saddr'))
    const before = { mac: await dropped(table, a1.id, 'ether saddr'), ip: await forgedIpDrops() }
    // The forgeries are undone whatever happens: later steps probe from the same machine.
    const forged = String(a1.private_ip).replace(/\.\d+$/, '.250')
    try {
      await ip('link', 'set', 'eth0', 'address', '02:00:00:00:00:99')
      await reaches(a1, `http://${a2.private_ip}:8080/`, null, 'a forged MAC')
      assert.ok((await dropped(table, a1.id, 'ether saddr')) > before.mac, 'the firewall dropped the forged MAC\'s frames')
      await ip('link', 'set', 'eth0', 'address', mac)
      await ip('addr', 'add', `${forged}/32`, 'dev', 'eth0')
      await ip('route', 'replace', `${a2.private_ip}/32`, 'dev', 'eth0', 'src', forged)
      await reaches(a1, `http://${a2.private_ip}:8080/`, null, 'a forged source address')
      assert.ok((await forgedIpDrops()) > before.ip, 'the firewall dropped the forged source address')
    } finally {
      await ip('link', 'set', 'eth0', 'address', mac)
      await ip('route', 'del', `${a2.private_ip}/32`).catch(() => {})
      await ip('addr', 'del', `${forged}/32`, 'dev', 'eth0').catch(() => {})
    }
    // Its neighbour entry for a2 failed while forged; the kernel probes again within a few seconds.
    let again: string | null = null
    for (let i = 0; i < 5 && again === null; i++) again = await get(a1, `http://${a2.private_ip}:8080/`)
    assert.equal(again, 'hello from hangar\n', 'its own addresses again')
  })

  await t.test('an app\'s egress policy: first match wins, other apps keep the defaults, bad rules change nothing', async () => {
    const policy = await d.client.apps.setNetworkPolicy('net-a', [{ cidr: `${lanNet}.0/24`, action: 'allow' }, { cidr: '198.51.100.0/24', action: 'deny' }])
    assert.deepEqual(policy.rules.map((r) => ('cidr' in r ? r.cidr : r.domain)), [`${lanNet}.0/24`, '198.51.100.0/24'])
    await reaches(a1, `http://${lanNet}.2:8080/`, 'lan\n', 'allowed by its app')
    await reaches(a1, 'http://198.51.100.2:8080/', null, 'denied by its app')
    await reaches(b1, 'http://198.51.100.2:8080/', 'internet\n', 'another app keeps the defaults')
    await reaches(b1, `http://${lanNet}.2:8080/`, null, 'another app keeps the defaults')

    await assert.rejects(d.client.apps.setNetworkPolicy('net-a', [{ cidr: '10.0.0.5/8', action: 'deny' }]), /did you mean 10\.0\.0\.0\/8/)
    const domain = await fetch(`${d.url}/v1/apps/net-a/policy/network`, { method: 'POST', headers: { authorization: `Bearer ${d.token}` }, body: JSON.stringify({ rules: [{ cidr: '198.51.100.0/24', action: 'deny' }, { domain: 'a.*.example.com', action: 'allow' }] }) })
    assert.equal(domain.status, 400)
    assert.match(((await domain.json()) as { error: string }).error, /rules\[1\]\.domain: .*leading "\*\."/)
    assert.equal((await d.client.apps.networkPolicy('net-a')).rules.length, 2, 'the rules in force are unchanged')

    await d.client.apps.setNetworkPolicy('net-a', [])
    await reaches(a1, 'http://198.51.100.2:8080/', 'internet\n', 'defaults again')
    await reaches(a1, `http://${lanNet}.2:8080/`, null, 'defaults again')
  })

  /** busybox nslookup against `server` (a machine of net-a has port 53 to any address redirected to the forwarder). */
  const lookup = async (m: typeof a1, name: string, server: string): Promise<string> =>
    (await hm.exec(m === b1 ? 'net-b' : 'net-a', m.id, { cmd: `nslookup ${name} ${server} 2>&1; true` })).stdout

  await t.test('domain rules: an allowed name resolves and is reached, a denied one does not resolve nor is reached by address, other apps untouched', async () => {
    await d.client.apps.setNetworkPolicy('net-a', [{ domain: 'allowed.test', action: 'allow' }, { domain: 'denied.test', action: 'deny' }, { cidr: '0.0.0.0/0', action: 'deny' }])
    await reaches(a1, 'http://198.51.100.2:8080/', null, 'not resolved yet: the CIDR deny holds')
    // 198.51.100.53 answers nothing: only the redirect to the forwarder can.
    assert.match(await lookup(a1, 'allowed.test', '198.51.100.53'), /Name:\s+allowed\.test\s+Address:\s+198\.51\.100\.2\b/)
    await reaches(a1, 'http://198.51.100.2:8080/', 'internet\n', 'an allowed name\'s address, learned')
    const denied = await lookup(a1, 'denied.test', '198.51.100.2')
    assert.doesNotMatch(denied, /198\.51\.100\.3/)
    assert.match(denied, /REFUSED/)
    await reaches(a1, 'http://198.51.100.3:8080/', null, 'a denied name\'s address by IP')
    assert.match(await lookup(a1, 'nowhere.test', '198.51.100.2'), /NXDOMAIN/, 'an unmatched name is forwarded upstream')

    assert.match(await lookup(b1, 'denied.test', '198.51.100.2'), /Address:\s+198\.51\.100\.3\b/, 'another app\'s DNS is not intercepted')
    await reaches(b1, 'http://198.51.100.3:8080/', 'denied\n', 'another app keeps the defaults')

    // A rebuild (another app's policy changes) keeps what net-a learned.
    await d.client.apps.setNetworkPolicy('net-b', [{ cidr: '203.0.113.0/24', action: 'deny' }])
    await reaches(a1, 'http://198.51.100.2:8080/', 'internet\n', 'learned addresses survive a rebuild')
    await d.client.apps.setNetworkPolicy('net-b', [])
  })

  await t.test('Sprites\' allowlist shape: allowed names, then {domain: "*", action: "deny"}, reaches nothing else, by name or address', async () => {
    await d.client.apps.setNetworkPolicy('net-a', [{ domain: '*.test', action: 'allow' }, { domain: '*', action: 'deny' }])
    await reaches(a1, 'http://198.51.100.3:8080/', null, 'not resolved: every other address is dropped')
    assert.match(await lookup(a1, 'example.org', '198.51.100.2'), /REFUSED/)
    assert.match(await lookup(a1, 'denied.test', '198.51.100.2'), /Address:\s+198\.51\.100\.3\b/)
    await reaches(a1, 'http://198.51.100.3:8080/', 'denied\n', 'reached once its name, allowed by *.test, resolved')
    await reaches(a1, `http://${lanNet}.2:8080/`, null, 'the LAN')

    await d.client.apps.setNetworkPolicy('net-a', [])
    assert.match(await lookup(a1, 'denied.test', '198.51.100.2'), /Address:\s+198\.51\.100\.3\b/, 'no interception without domain rules')
  })
})
