/**
 * HTTP/1.1 by hand, for proxy tests that must know every byte a client sent: write a request
 * exactly as given, read the answer to the end (Connection: close), de-chunk its body.
 *
 *   const r = await rawExchange(port, 'GET http://localhost:1/ HTTP/1.1\r\nHost: localhost:1\r\nConnection: close\r\n\r\n')
 *   r.status, r.headers['content-type'], r.body
 */
import { connect, type Socket } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  raw: string
}

function dechunk(b: string): string {
  let out = ''
  let rest = b
  for (;;) {
    const nl = rest.indexOf('\r\n')
    if (nl < 0) return out
    const size = Number.parseInt(rest.slice(0, nl), 16)
    if (!size) return out
    out += rest.slice(nl + 2, nl + 2 + size)
    rest = rest.slice(nl + 2 + size + 2)
  }
}

export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n')
  const headers: Record<string, string> = {}
  for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim()
  const body = raw.slice(end + 4)
  return { status: Number(statusLine.split(' ')[1]), headers, body: headers['transfer-encoding'] === 'chunked' ? dechunk(body) : body, raw }
}

/** Sends `request` (and `then`, once the first answer is in, on the same socket) and reads until the server closes. */
export function rawExchange(port: number, request: string | Buffer, opts: { socket?: Socket } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = opts.socket ?? connect(port, '127.0.0.1')
    let raw = ''
    s.setEncoding('latin1')
    s.on('data', (d: string) => (raw += d))
    s.once('error', reject)
    s.once('close', () => resolve(parseResponse(raw)))
    s.write(request)
  })
}

/** Opens a CONNECT tunnel and resolves with the socket once the proxy's 200 (or refusal) is read. */
export function connectTunnel(port: number, request: string): Promise<{ status: number; socket: Socket; raw: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    let raw = ''
    const onData = (d: Buffer): void => {
      raw += d.toString('latin1')
      const end = raw.indexOf('\r\n\r\n')
      if (end < 0) return
      s.off('data', onData)
      resolve({ status: Number(raw.split(' ')[1]), socket: s, raw })
    }
    s.on('data', onData)
    s.once('error', reject)
    s.write(request)
  })
}
