/**
 * The Machines API inside every machine, as Fly offers it: a Unix socket at /.fly/api (Fly's clients
 * call it host `flaps`) serving the same /v1 routes, as the machine itself: its own app, every
 * app-level action, no images and no tokens (platform.tokens.machineCaller). Nothing is sent or held
 * to prove it: reaching the socket is the proof, and only that machine can (its directory is mounted
 * read-only into it alone; on the host it lies in a directory only root enters). An Authorization
 * header changes nothing; /v2, /mcp and anything else but /v1 answer 404. The console works as on
 * the API port.
 *
 *   const sockets = new MachineApiSockets({ app, platform, logger, dirOf: (id) => driver.machineApiDir!(id) })
 *   await platform.serveMachineApi(sockets)
 *   await sockets.shutdown()   // at daemon shutdown; machines keep running and get their sockets back at the next start
 */
import { chmod, rm } from 'node:fs/promises'
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import type { Hono } from 'hono'
import type { Logger } from 'pino'
import type { Caller, MachineApiHost, Platform } from '../../platform/index.ts'
import { HangarError } from '../../errors.ts'
import { attachConsole } from './console.ts'
import { errorBody } from './errors.ts'

export interface MachineApiOptions {
  /** The REST app (createRestApp): requests reach it with `machineCaller` in its env. */
  app: { fetch: Hono['fetch'] }
  platform: Platform
  logger: Logger
  /** The host directory the runtime mounts at /.fly in machine `id` (Driver.machineApiDir). */
  dirOf: (id: string) => string
}

interface Served {
  server: Server
  caller: Caller
  sockets: Set<Socket>
}

/** Connections one machine may hold open on its socket: a robot looping on connect must not exhaust the daemon's descriptors. */
const maxConnections = 64

export class MachineApiSockets implements MachineApiHost {
  readonly #o: MachineApiOptions
  readonly #http: HttpServer
  readonly #served = new Map<string, Served>()
  /** Which machine each accepted connection came from: the only thing that says who a request is. */
  readonly #callers = new WeakMap<Socket, Caller>()

  constructor(o: MachineApiOptions) {
    this.#o = o
    const listener = getRequestListener((req, env) => {
      const caller = this.#callers.get((env as { incoming: IncomingMessage }).incoming.socket as Socket)
      const path = new URL(req.url).pathname
      if (!caller || !path.startsWith('/v1/')) {
        const e = new HangarError('route_not_found', `no route for ${req.method} ${path} on a machine's API socket, which serves /v1 only`)
        return Response.json(errorBody(e), { status: e.status })
      }
      return o.app.fetch(req, { ...env, machineCaller: caller })
    })
    // One HTTP server for every machine's socket: each socket hands it the connections it accepts.
    this.#http = createHttpServer(listener)
    attachConsole(this.#http, o.platform, o.logger, (req) => {
      const caller = this.#callers.get(req.socket as Socket)
      if (!caller) throw new HangarError('unauthenticated', 'this connection belongs to no machine')
      return caller
    })
  }

  async open(id: string, app: string): Promise<void> {
    if (this.#served.has(id)) return
    const path = join(this.#o.dirOf(id), 'api')
    // Left by a daemon that was killed: nothing listens on it any more.
    await rm(path, { force: true })
    const entry: Served = { server: createServer(), caller: this.#o.platform.tokens.machineCaller(app, id), sockets: new Set() }
    entry.server.maxConnections = maxConnections
    entry.server.on('connection', (socket: Socket) => {
      if (this.#served.get(id) !== entry) return void socket.destroy()
      entry.sockets.add(socket)
      socket.once('close', () => entry.sockets.delete(socket))
      this.#callers.set(socket, entry.caller)
      this.#http.emit('connection', socket)
    })
    this.#served.set(id, entry)
    try {
      await new Promise<void>((resolve, reject) => {
        entry.server.once('error', reject)
        entry.server.listen(path, () => {
          entry.server.off('error', reject)
          resolve()
        })
      })
      // Any of the machine's own users may call it, as on Fly; on the host, the 0700 parent keeps everyone but root out.
      await chmod(path, 0o666)
    } catch (e) {
      this.close(id)
      throw new HangarError('runtime_error', `machine ${id}'s API socket could not listen at ${path}: ${(e as Error).message}`, { cause: e })
    }
    entry.server.on('error', (e) => this.#o.logger.warn({ machine: id, err: e.message }, 'machine API socket failed'))
  }

  close(id: string): void {
    const entry = this.#served.get(id)
    if (!entry) return
    this.#served.delete(id)
    // Closing a Unix socket server removes its file.
    entry.server.close()
    for (const s of entry.sockets) s.destroy()
  }

  /** Stops serving every machine (the daemon is shutting down; machines keep running). */
  async shutdown(): Promise<void> {
    for (const id of [...this.#served.keys()]) this.close(id)
    await new Promise<void>((resolve) => this.#http.close(() => resolve()))
  }
}
