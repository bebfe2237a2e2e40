/**
 * A tiny authoritative DNS server for tests (UDP): fixed A records, NXDOMAIN for the rest,
 * with a log of the names asked. Run in a namespace a test made:
 *   ip netns exec <ns> node test/support/dns-server.ts 198.51.100.2 53 allowed.test=198.51.100.2 …
 */
import { createSocket, type Socket } from 'node:dgram'
import * as dns from 'dns-packet'

export interface TestDnsServer {
  port: number
  /** Names asked so far, in order. */
  asked: string[]
  close(): void
}

export async function startDnsServer(host: string, port: number, records: Record<string, string>, ttl = 300): Promise<TestDnsServer> {
  const sock: Socket = createSocket(host.includes(':') ? 'udp6' : 'udp4')
  const asked: string[] = []
  sock.on('message', (msg, from) => {
    const q = dns.decode(msg)
    const question = q.questions?.[0]
    if (!question) return
    asked.push(question.name)
    const addr = records[question.name.toLowerCase()]
    const answers: dns.Answer[] = addr && question.type === 'A' ? [{ type: 'A', name: question.name, ttl, data: addr }] : []
    // NOERROR with no answers for a known name's other types (AAAA), NXDOMAIN (3) for unknown names.
    const rcode = addr ? 0 : 3
    sock.send(dns.encode({ type: 'response', id: q.id ?? 0, flags: dns.AUTHORITATIVE_ANSWER | rcode, questions: q.questions ?? [], answers }), from.port, from.address)
  })
  await new Promise<void>((ok, fail) => sock.once('error', fail).bind(port, host, () => ok()))
  return { port: sock.address().port, asked, close: () => sock.close() }
}

if (import.meta.main) {
  const [host, port, ...pairs] = process.argv.slice(2)
  const s = await startDnsServer(host!, Number(port), Object.fromEntries(pairs.map((p) => p.split('=') as [string, string])))
  process.stdout.write(`listening ${s.port}\n`)
}
