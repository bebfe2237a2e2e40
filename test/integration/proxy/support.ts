/**
 * Proxy test helpers: requests to the daemon's proxy on loopback with a chosen
 * Host header (fetch won't let a caller set Host), and busybox machines that
 * serve their own id and shell CGI scripts.
 */
import http from 'node:http'
import type { TestDaemon } from '../../support/daemon.ts'
import type { CreateMachineRequest } from '../../../src/sdk/index.ts'

type Services = CreateMachineRequest['config']['services']

export interface ProxyResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** One request through the proxy at `d.proxyUrl`, `Host: <app>.localhost`, a fresh connection each time. */
export function viaProxy(
  d: { proxyUrl: string },
  app: string,
  path = '/',
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; host?: string } = {},
): Promise<ProxyResponse> {
  const url = new URL(d.proxyUrl)
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path, method: opts.method ?? 'GET', agent: false, setHost: false, headers: { host: opts.host ?? `${app}.localhost`, ...opts.headers } },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
        res.on('error', reject)
      },
    )
    req.setTimeout(20_000, () => req.destroy(new Error(`no answer from the proxy for ${app}${path} in 20s`)))
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** A Fly-shaped HTTP service on busybox httpd's port 8080. */
export function httpServices(o: Record<string, unknown> = {}): Record<string, unknown>[] {
  return [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], autostart: true, autostop: false, ...o }]
}

/**
 * A started busybox machine whose /www/id holds its own id, plus any CGI
 * scripts (`name → shell source`) under /cgi-bin/. Files live in the
 * machine's upper layer, so they survive stop/start.
 */
export async function webMachine(
  d: TestDaemon & { app: string; image: string },
  opts: { services?: Record<string, unknown>[]; cgi?: Record<string, string>; app?: string; exec?: string[] } = {},
): Promise<{ id: string; private_ip: string | null }> {
  const app = opts.app ?? d.app
  const m = await d.client.machines.create(app, {
    // Tests hand services as plain objects, some deliberately odd: the daemon judges them.
    config: { image: d.image, ...(opts.services ? { services: opts.services as Services } : {}), ...(opts.exec ? { init: { exec: opts.exec } } : {}) },
  })
  const run = async (cmd: string, stdin?: string): Promise<void> => {
    const r = await d.client.machines.exec(app, m.id, { command: ['sh', '-c', cmd], ...(stdin !== undefined ? { stdin } : {}) })
    if (r.exit_code !== 0) throw new Error(`exec ${cmd} in ${m.id}: ${r.exit_code} ${r.stderr}`)
  }
  await run('mkdir -p /www/cgi-bin && echo $FLY_MACHINE_ID > /www/id')
  for (const [name, src] of Object.entries(opts.cgi ?? {})) await run(`cat > /www/cgi-bin/${name} && chmod +x /www/cgi-bin/${name}`, `#!/bin/sh\n${src}\n`)
  return { id: m.id, private_ip: m.private_ip }
}
