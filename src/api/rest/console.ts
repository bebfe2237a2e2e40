/**
 * GET /v1/apps/{app}/machines/{id}/console with `Upgrade: tcp`: after a 101 the
 * connection is a raw byte stream to a terminal in the machine (Docker's attach
 * does the same). Query: cmd (repeat for each argv item), cols, rows.
 * Exec and logs are plain HTTP; only this needs the socket, so it hooks the
 * server's 'upgrade' event instead of a router.
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { Caller, Platform } from '../../platform/index.ts'
import { toHangarError } from '../../errors.ts'
import { errorBody } from './errors.ts'

const route = /^\/v1\/apps\/([^/]+)\/machines\/([^/]+)\/console$/

function refuse(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  socket.end(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`)
}

/**
 * `callerOf`: who the request is (default: its token; the machine API socket passes the machine's own identity).
 */
export function attachConsole(server: Server, platform: Platform, logger: Logger, callerOf: (req: IncomingMessage) => Caller = (req) => platform.tokens.authenticate(req.headers.authorization)): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const m = route.exec(url.pathname)
    if (!m) return refuse(socket, 404, { error: 'not_found: no upgradeable route here' })
    let app: string
    let id: string
    try {
      app = decodeURIComponent(m[1] as string)
      id = decodeURIComponent(m[2] as string)
    } catch {
      return refuse(socket, 400, { error: 'invalid_argument: malformed path', code: 'invalid_argument' })
    }
    void (async () => {
      // A console is exec: the token must allow exec on this app and machine, from this address.
      const caller = callerOf(req)
      const source = req.socket.remoteAddress
      platform.tokens.authorize(caller, { action: 'exec', app, machine: id, ...(source !== undefined ? { source } : {}) })
      const nonce = req.headers['fly-machine-lease-nonce']
      const session = await platform.machines.console(app, id, {
        cmd: url.searchParams.getAll('cmd'),
        cols: Number(url.searchParams.get('cols') ?? 80),
        rows: Number(url.searchParams.get('rows') ?? 24),
      }, typeof nonce === 'string' ? { nonce } : {})
      if (socket.destroyed) return session.close() // the client left while the terminal was opening
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n')
      socket.pipe(session.input as NodeJS.WritableStream)
      session.output.pipe(socket)
      socket.on('close', () => session.close())
      socket.on('error', () => session.close())
      void session.exited.then(() => socket.end())
    })().catch((e) => {
      const err = toHangarError(e)
      if (err.status >= 500) logger.error({ err: err.message }, 'console failed')
      refuse(socket, err.status, errorBody(err))
    })
  })
}
