/**
 * MCP over Streamable HTTP at /mcp, on the API's port and with the API's bearer
 * tokens. Stateful: each session (Mcp-Session-Id) gets its own server, so
 * progress notifications reach the client that asked. Browsers' cross-site
 * requests are refused by Origin (the spec's DNS-rebinding defence).
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Context, Env, Hono } from 'hono'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { Caller, Platform } from '../../platform/index.ts'
import { toHangarError } from '../../errors.ts'
import { mayDo } from '../../auth/index.ts'
import { platformBackend } from './backend.ts'
import { guardedBackend, type Check } from './guard.ts'
import { endCancelledStreams } from './cancelled-streams.ts'
import { checkPageSize } from './pagination.ts'
import { createMcpServer, type McpServerOptions } from './server.ts'

/** The server's own options (logger, version, pageSize) apply to every session's server. */
export interface McpHttpOptions extends McpServerOptions {
  /** Origins allowed besides the daemon's own names, exactly as browsers send them: "https://tools.example.com". */
  allowedOrigins?: string[]
  /** The daemon's own host names (loopback and the operator's --public-host); default loopback only. */
  ownHosts?: { hasName(hostname: string): boolean }
  /** Sessions idle this long are closed (default 30 minutes). */
  idleMs?: number
  /** Most open sessions; the least recently used goes first (default 256). */
  maxSessions?: number
}

interface Session {
  server: McpServer
  transport: WebStandardStreamableHTTPServerTransport
  /** The token (id, caveats, and source if it has a source caveat) that opened the session. */
  tokenId: string
  lastSeen: number
}

const loopbackNames = new Set(['localhost', '127.0.0.1', '[::1]'])
const loopbackOnly = { hasName: (h: string) => loopbackNames.has(h) }

/**
 * No Origin (not a browser) passes, and so does a page on one of the daemon's own host names or a
 * listed origin. Not `<app>.localhost`: those pages are the apps robots run, and must not drive /mcp
 * from a visitor's browser.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[] = [], own: { hasName(hostname: string): boolean } = loopbackOnly): boolean {
  if (!origin) return true
  if (allowed.includes(origin)) return true
  try {
    return own.hasName(new URL(origin).hostname)
  } catch {
    return false
  }
}

/** The caller's address as the socket saw it (undefined in-process). */
const sourceOf = (c: Context): string | undefined => (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress

/**
 * Which requests may continue a session: the same token id with the same caveats (an attenuation shares
 * its parent's id but must not ride its parent's session), and, for a token with a source caveat, the same address.
 */
const sessionKey = (caller: Caller, source: string | undefined): string =>
  `${caller.id}|${JSON.stringify(caller.caveats)}|${caller.caveats.some((x) => x.type === 'source') ? source : ''}`

const rpcError = (code: number, message: string) => ({ jsonrpc: '2.0', error: { code, message }, id: null })

export function mountMcp<E extends Env>(app: Hono<E>, platform: Platform, opts: McpHttpOptions = {}): { close(): Promise<void> } {
  const sessions = new Map<string, Session>()
  const idleMs = opts.idleMs ?? 30 * 60_000
  const maxSessions = opts.maxSessions ?? 256
  const maxSessionsPerToken = Math.max(1, Math.floor(maxSessions / 4))
  // A bad page size fails here, at mount, not in the first session's initialize.
  const serverOptions: McpServerOptions = {
    ...(opts.logger ? { logger: opts.logger } : {}), ...(opts.version ? { version: opts.version } : {}), ...(opts.pageSize !== undefined ? { pageSize: checkPageSize(opts.pageSize) } : {}),
  }

  // A scoped token's session sees a guarded backend: tools/list shows what its actions allow, and
  // every call is checked against its caveats (from the address that opened the session).
  const sessionServer = (caller: Caller, source: string | undefined): McpServer => {
    const backend = platformBackend(platform, caller)
    if (caller.caveats.length === 0) return createMcpServer(backend, serverOptions)
    const check: Check = (access) => platform.tokens.authorize(caller, { ...access, ...(source !== undefined ? { source } : {}) })
    const reach = { caveats: caller.caveats, app: (a: string) => platform.tokens.mayReachApp(caller, a) }
    return createMcpServer(guardedBackend(backend, reach, check), { ...serverOptions, allows: (a) => mayDo(caller.caveats, a) })
  }

  const drop = (id: string): void => {
    const s = sessions.get(id)
    if (!s) return
    sessions.delete(id)
    void s.server.close().catch(() => {})
  }
  const sweep = setInterval(() => {
    for (const [id, s] of sessions) if (Date.now() - s.lastSeen > idleMs) drop(id)
  }, 60_000)
  sweep.unref()

  app.all('/mcp', async (c) => {
    const origin = c.req.header('origin')
    if (!originAllowed(origin, opts.allowedOrigins, opts.ownHosts)) {
      opts.logger?.warn({ origin }, 'mcp: refused a request from a non-local Origin')
      return c.json(rpcError(-32000, `forbidden: Origin ${origin} is not allowed. Next: use a local client, or add the origin to the daemon's allowed MCP origins`), 403)
    }
    let token: Caller
    try {
      token = platform.tokens.authenticate(c.req.header('authorization'))
    } catch (e) {
      const err = toHangarError(e)
      if (err.status === 401) c.header('WWW-Authenticate', 'Bearer realm="hangar"')
      return c.json(rpcError(-32001, `${err.grpcClass}: ${err.message}. Next: ${err.hint}`), err.status >= 500 ? 500 : 401)
    }
    const source = sourceOf(c)
    const key = sessionKey(token, source)
    // No standalone GET stream: every message Hangar sends (progress included) answers a
    // POSTed request, and an idle stream per client would only hold connections open.
    if (c.req.method === 'GET') {
      c.header('Allow', 'POST, DELETE')
      return c.json(rpcError(-32000, 'method not allowed: Hangar sends no server-initiated stream; POST requests'), 405)
    }
    const sid = c.req.header('mcp-session-id')
    if (sid) {
      const s = sessions.get(sid)
      // Another token's session is as good as missing: sessions are not shared between callers.
      if (!s || s.tokenId !== key) return c.json(rpcError(-32001, 'session not found: it expired or the daemon restarted. Next: initialize a new session'), 404)
      s.lastSeen = Date.now()
      return s.transport.handleRequest(c.req.raw)
    }
    if (c.req.method !== 'POST') return c.json(rpcError(-32000, 'bad request: no Mcp-Session-Id. Next: start a session with an initialize POST'), 400)

    const server = sessionServer(token, source)
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        // Past the cap, the token opening this session gives up its own oldest one:
        // one client opening sessions in a loop must not evict everybody else's.
        const own = [...sessions].filter(([, x]) => x.tokenId === key)
        if (own.length >= maxSessionsPerToken || sessions.size >= maxSessions) {
          const oldest = (own.length ? own : [...sessions]).sort((a, b) => a[1].lastSeen - b[1].lastSeen)[0]
          if (oldest) drop(oldest[0])
        }
        sessions.set(id, { server, transport, tokenId: key, lastSeen: Date.now() })
      },
      onsessionclosed: (id) => void sessions.delete(id),
    })
    server.server.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId)
    }
    await server.connect(transport)
    endCancelledStreams(transport)
    const res = await transport.handleRequest(c.req.raw)
    // Anything but an initialize leaves no session behind to keep.
    if (!transport.sessionId) await server.close()
    return res
  })

  return {
    async close() {
      clearInterval(sweep)
      await Promise.all([...sessions.values()].map((s) => s.server.close().catch(() => {})))
      sessions.clear()
    },
  }
}
