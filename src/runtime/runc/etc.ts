/**
 * The two files every machine gets from the host side, bind-mounted over its
 * /etc: resolv.conf and hosts. They live in the machine dir, so they survive
 * stop/start and are rewritten only when the network changes.
 */
import { readFile, writeFile } from 'node:fs/promises'

/**
 * The host's resolv.conf minus loopback nameservers (127.x, ::1): those point
 * at a resolver on the host's own loopback (systemd-resolved, dnsmasq) that a
 * machine in its own network namespace cannot reach. If nothing is left the
 * machine has no resolver; that is reported rather than guessed at — Hangar
 * never sends traffic to a public resolver on its own. `withLoopback` keeps them, for
 * the daemon's own DNS forwarder, which runs on the host and can reach them.
 */
export async function resolvConf(hostFile = '/etc/resolv.conf', withLoopback = false): Promise<string> {
  let text = ''
  try {
    text = await readFile(hostFile, 'utf8')
  } catch {
    return ''
  }
  const kept = text.split('\n').filter((line) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(line)
    return !m || withLoopback || !(m[1]?.startsWith('127.') || m[1] === '::1')
  })
  return kept.join('\n').trimEnd() + '\n'
}

export function hostsFile(id: string, ipv4: string, ipv6: string | null): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${ipv4}\t${id}`,
    ...(ipv6 ? [`${ipv6}\t${id}`] : []),
    '',
  ].join('\n')
}

export async function writeEtc(paths: { resolvConf: string; hosts: string }, id: string, ipv4: string, ipv6: string | null): Promise<void> {
  await writeFile(paths.resolvConf, await resolvConf())
  await writeFile(paths.hosts, hostsFile(id, ipv4, ipv6))
}
