/** Opens a terminal in a machine: an HTTP Upgrade to a raw byte stream (see api/rest/console.ts). */
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Duplex } from 'node:stream'
import { HangarError, codes, type Code } from '../errors.ts'

export interface ConsoleRequest {
  cmd?: string[]
  cols?: number
  rows?: number
  nonce?: string
}

export function openConsole(url: string, token: string, req: ConsoleRequest): Promise<Duplex> {
  const u = new URL(url)
  for (const c of req.cmd ?? []) u.searchParams.append('cmd', c)
  if (req.cols) u.searchParams.set('cols', String(req.cols))
  if (req.rows) u.searchParams.set('rows', String(req.rows))
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const r = request(u, {
      method: 'GET',
      headers: {
        authorization: `Bearer ${token}`, connection: 'Upgrade', upgrade: 'tcp',
        ...(req.nonce ? { 'fly-machine-lease-nonce': req.nonce } : {}),
      },
    })
    r.on('upgrade', (_res, socket, head) => {
      if (head.length) socket.unshift(head)
      resolve(socket)
    })
    r.on('response', (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => {
        let parsed: { error?: string; code?: string; hint?: string } = {}
        try {
          parsed = JSON.parse(body)
        } catch {
          /* keep the status */
        }
        const code = parsed.code && parsed.code in codes ? (parsed.code as Code) : 'internal'
        reject(new HangarError(code, parsed.error ?? `console refused with HTTP ${res.statusCode}`, parsed.hint ? { hint: parsed.hint } : {}))
      })
    })
    r.on('error', (e) => reject(new HangarError('unavailable', `cannot reach the Hangar daemon at ${u.origin}: ${e.message}`, { cause: e })))
    r.end()
  })
}
