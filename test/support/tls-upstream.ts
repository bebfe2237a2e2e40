/**
 * "The internet" for tokenizer tests, on loopback: a CA of the test's own (made with the openssl
 * CLI), an HTTPS server with a certificate from it for localhost and 127.0.0.1 that records every
 * request it gets (method, target, raw headers, body) and answers 200 "ok", and a plain HTTP
 * server that records the raw bytes it is sent.
 *
 *   const up = await tlsUpstream(t)       // up.url 'http://localhost:PORT', up.caPem, up.received
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'

export interface Received {
  method: string
  url: string
  rawHeaders: string[]
  body: string
}

export interface TlsUpstream {
  /** The CA's certificate (PEM): what the tokenizer must be told to trust. */
  caPem: string
  caPath: string
  port: number
  /** host:port as a client writes it. */
  authority: string
  received: Received[]
  /** A plain-HTTP listener on loopback, and every byte it was sent. */
  plainPort: number
  plainBytes(): Buffer
}

/** A CA and a leaf for localhost / 127.0.0.1, in `dir`; returns the file paths. */
export function makeTestCa(dir: string): { ca: string; caKey: string; cert: string; key: string } {
  const f = (n: string): string => join(dir, n)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=Hangar tokenizer test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' })
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', f('leaf.key'), '-out', f('leaf.crt'), '-days', '2', '-subj', '/CN=localhost',
    '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-addext', 'basicConstraints=CA:FALSE',
    '-addext', 'extendedKeyUsage=serverAuth'], { stdio: 'ignore' })
  return { ca: f('ca.crt'), caKey: f('ca.key'), cert: f('leaf.crt'), key: f('leaf.key') }
}

export async function tlsUpstream(t: TestContext): Promise<TlsUpstream> {
  const dir = await mkdtemp(join(tmpdir(), 'hangar-tkz-ca-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const files = makeTestCa(dir)
  const received: Received[] = []
  const server = createHttpsServer({ key: await readFile(files.key), cert: await readFile(files.cert) }, (req, res) => {
    const parts: Buffer[] = []
    req.on('data', (c: Buffer) => parts.push(c))
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body: Buffer.concat(parts).toString() })
      res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Upstream': 'yes' }).end('ok')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  let plain = Buffer.alloc(0)
  const plainServer = createTcpServer((s) => {
    s.on('data', (d: Buffer) => (plain = Buffer.concat([plain, d])))
    // What a plain HTTP server says to a TLS ClientHello.
    s.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
  })
  await new Promise<void>((r) => plainServer.listen(0, '127.0.0.1', r))
  t.after(() => {
    server.closeAllConnections()
    server.close()
    plainServer.close()
  })
  const port = (server.address() as AddressInfo).port
  return {
    caPem: await readFile(files.ca, 'utf8'),
    caPath: files.ca,
    port,
    authority: `localhost:${port}`,
    received,
    plainPort: (plainServer.address() as AddressInfo).port,
    plainBytes: () => plain,
  }
}
