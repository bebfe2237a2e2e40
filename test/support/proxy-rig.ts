/**
 * The edge proxy in process, for tests: the real proxy in front of loopback
 * HTTP servers standing in for machines, a fake platform feeding the route
 * table, and the route table read directly. Only 127.0.0.1.
 */
import { type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import http2 from 'node:http2'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import type { MachineRow } from '../../src/store/index.ts'
import { createProxy, type Proxy, type ProxyPlatform } from '../../src/proxy/index.ts'

/** A machine's own answer for a request, before the rig's: return true when it answered. */
export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean

/** A loopback server answering with `id`; /hold answers only when the test says so; Upgrade is answered 101 and echoed. */
async function upstream(t: TestContext, id: string, handler?: Handler): Promise<{ port: number; held: http.ServerResponse[] }> {
  const held: http.ServerResponse[] = []
  const server = http.createServer((req, res) => {
    req.resume()
    if (handler?.(req, res)) return
    if (req.url === '/hold') held.push(res)
    else if (req.url?.startsWith('/replay/')) res.writeHead(200, { 'fly-replay': `instance=${req.url.slice(8)}` }).end()
    else res.end(id)
  })
  server.on('upgrade', (_req, socket: Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n')
    socket.write(`${id}\n`)
    socket.pipe(socket)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  return { port: (server.address() as AddressInfo).port, held }
}

export interface Rig {
  proxy: Proxy
  port: number
  /** Machine id → its upstream's held /hold responses. */
  held: Map<string, http.ServerResponse[]>
  load(id: string): number
  /** Open raw TCP connections counted against machine `id`'s service on external `port`. */
  tcp(id: string, port: number): number
  /** Sets a machine's state as the platform's change feed would. */
  set(id: string, state: string): void
  stops: string[]
}

export async function rig(t: TestContext, machines: { id: string; app?: string; state?: string; service?: Record<string, unknown>; more?: Record<string, unknown>[]; handler?: Handler }[], o: { idleMs?: number; startMs?: number } = {}): Promise<Rig> {
  const rows: MachineRow[] = []
  const held = new Map<string, http.ServerResponse[]>()
  for (const m of machines) {
    const u = await upstream(t, m.id, m.handler)
    held.set(m.id, u.held)
    const service = { internal_port: u.port, ports: [{ port: 80, handlers: ['http'] }], autostart: true, autostop: false, concurrency: { type: 'connections', soft_limit: 1 }, ...m.service }
    rows.push({ id: m.id, app_name: m.app ?? 'a', name: m.id, state: m.state ?? 'started', region: 'local', instance_id: 'v1', config: { image: 'x', services: [service, ...(m.more ?? []).map((x) => ({ internal_port: u.port, ...x }))] }, image_ref: {}, private_ip: '127.0.0.1', private_ip6: null, restart_count: 0, secrets_version: 0, created_at: '', updated_at: '' })
  }
  const subs = new Set<(c: { machine: MachineRow }) => void>()
  const stops: string[] = []
  const set = (id: string, state: string): void => {
    const row = rows.find((r) => r.id === id) as MachineRow
    row.state = state
    for (const f of subs) f({ machine: { ...row } })
  }
  const platform: ProxyPlatform = {
    events: { subscribe: (fn) => (subs.add(fn), () => void subs.delete(fn)) },
    machines: {
      allLive: () => rows.map((r) => ({ ...r })),
      start: async (_app, id) => {
        set(id, 'starting')
        await sleep(o.startMs ?? 0)
        set(id, 'started')
      },
      stop: async (_app, id) => {
        stops.push(id)
        set(id, 'stopped')
      },
      suspend: async (_app, id) => set(id, 'suspended'),
    },
    apps: { get: (name) => assert.ok(rows.some((r) => r.app_name === name)) },
  }
  const proxy = createProxy({ platform, logger: pino({ level: 'silent' }), config: { host: '127.0.0.1', port: 0, domain: 'localhost', region: 'local', idleMs: o.idleMs ?? 60_000, wakeTimeoutMs: 2000, h2c: true, tcpPorts: [{ first: 1024, last: 65535 }] } })
  const { port } = await proxy.listen()
  t.after(() => proxy.close())
  return { proxy, port, held, load: (id) => proxy.routes.machine(id)?.load ?? NaN, tcp: (id, p) => proxy.routes.machine(id)?.tcpOpen.get(p) ?? 0, set, stops }
}

/** One client connection: a keep-alive agent with a single socket. */
export function client(t: TestContext): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  return agent
}

export function get(r: Rig, agent: http.Agent | false, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: r.port, path, agent, setHost: false, headers: { host: 'a.localhost', ...headers } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** One h2c session to the proxy; `stream()` sends a GET for a.localhost on it and resolves with the body. */
export function h2client(t: TestContext, r: Rig): { session: http2.ClientHttp2Session; stream: () => Promise<string> } {
  const session = http2.connect(`http://127.0.0.1:${r.port}`)
  t.after(() => session.destroy())
  const stream = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':path': '/', ':authority': 'a.localhost' })
      let body = ''
      s.setEncoding('utf8')
      s.on('data', (c: string) => (body += c))
      s.on('end', () => resolve(body))
      s.on('error', reject)
    })
  return { session, stream }
}

export async function until(what: string, fn: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** A client connection to a raw TCP port of the proxy, retried until the listener is open. */
export async function openTcp(port: number): Promise<Socket> {
  for (let i = 0; ; i++) {
    try {
      const s = connect(port, '127.0.0.1')
      await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject))
      return s
    } catch (e) {
      if (i > 50) throw e
      await sleep(20) // the listener opens once the route table has seen the port
    }
  }
}
