/**
 * HTTPS and h2: certificates from the daemon's local CA, chosen by SNI and
 * verified by real clients trusting only that CA; custom hostnames; a
 * user-supplied certificate winning over the CA; HTTP → HTTPS redirects; h2c.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import https from 'node:https'
import http2 from 'node:http2'
import tls from 'node:tls'
import { join } from 'node:path'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, viaProxy, webMachine } from './support.ts'

const CUSTOM = 'robots.example.test'

/** GET over TLS to the proxy on loopback, SNI and Host `name`, trusting only `ca`. */
function httpsGet(url: string, name: string, ca: string, path = '/'): Promise<{ status: number; body: string; san: string; headers: Record<string, unknown> }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = https.get({ host: u.hostname, port: u.port, path, servername: name, ca, agent: false, headers: { host: name } }, (res) => {
      const san = (res.socket as tls.TLSSocket).getPeerCertificate().subjectaltname ?? ''
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, san, headers: res.headers }))
    })
    req.on('error', reject)
  })
}

/** One h2 request over TLS (ALPN h2), trusting only `ca`. */
function h2Get(url: string, name: string, ca: string, scheme = 'https'): Promise<{ status: number; body: string; alpn: string | false | undefined }> {
  const u = new URL(url)
  const session =
    scheme === 'https'
      ? http2.connect(`https://${name}:${u.port}`, { createConnection: () => tls.connect({ host: u.hostname, port: Number(u.port), servername: name, ca, ALPNProtocols: ['h2'] }) })
      : http2.connect(url)
  return new Promise((resolve, reject) => {
    session.on('error', reject)
    const req = session.request({ ':path': '/', ':authority': name })
    let status = 0
    let body = ''
    req.on('response', (h) => (status = Number(h[':status'])))
    req.setEncoding('utf8')
    req.on('data', (c: string) => (body += c))
    req.on('end', () => {
      resolve({ status, body, alpn: session.alpnProtocol })
      session.close()
    })
    req.on('error', reject)
  })
}

test('HTTPS and h2 with certificates from the local CA, by SNI', async (t) => {
  const d = await daemonWithBusybox(t, 'tlsapp', ['--proxy-hostname', `tlsapp=${CUSTOM}`, '--proxy-h2c'])
  const env = 'echo "Content-Type: text/plain"; echo; env | grep -E "^HTTP_X_FORWARDED_(PROTO|SSL|PORT)" | sort'
  await webMachine(d, { services: httpServices(), cgi: { env } })
  const caPath = join(d.dataDir, 'proxy', 'ca', 'ca.crt')
  const ca = readFileSync(caPath, 'utf8')
  const name = `${d.app}.localhost`

  await t.test('the CA is made on first start; its key is private', () => {
    assert.equal(statSync(join(d.dataDir, 'proxy', 'ca', 'ca.key')).mode & 0o777, 0o600)
    assert.match(execFileSync(process.execPath, [join(import.meta.dirname, '../../../src/cli/main.ts'), 'proxy', 'ca'], { env: d.env, encoding: 'utf8' }), new RegExp(caPath))
  })

  await t.test('a client trusting only the CA gets the app over HTTPS; the certificate names the host', async () => {
    const res = await httpsGet(d.proxyHttpsUrl, name, ca)
    assert.equal(res.status, 200)
    assert.equal(res.body, 'hello from hangar\n')
    assert.equal(res.san, `DNS:${name}`)
    const seen = (await httpsGet(d.proxyHttpsUrl, name, ca, '/cgi-bin/env')).body
    assert.match(seen, /HTTP_X_FORWARDED_PROTO=https/)
    assert.match(seen, /HTTP_X_FORWARDED_SSL=on/)
    assert.match(seen, new RegExp(`HTTP_X_FORWARDED_PORT=${new URL(d.proxyHttpsUrl).port}`))
  })

  await t.test('SNI picks the certificate: a custom hostname gets its own', async () => {
    const res = await httpsGet(d.proxyHttpsUrl, CUSTOM, ca)
    assert.equal(res.status, 200)
    assert.equal(res.san, `DNS:${CUSTOM}`)
  })

  await t.test('a hostname that routes nowhere gets no certificate (the handshake fails)', async () => {
    await assert.rejects(httpsGet(d.proxyHttpsUrl, 'nothing-here.localhost', ca))
  })

  await t.test('curl --cacert verifies it too', { skip: spawnSync('curl', ['--version']).error ? 'no curl' : false }, () => {
    const port = new URL(d.proxyHttpsUrl).port
    const out = execFileSync('curl', ['-sS', '--cacert', caPath, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`], { encoding: 'utf8' })
    assert.equal(out, 'hello from hangar\n')
  })

  await t.test('h2 over TLS: ALPN negotiates h2 and the machine answers', async () => {
    const res = await h2Get(d.proxyHttpsUrl, name, ca)
    assert.deepEqual(res, { status: 200, body: 'hello from hangar\n', alpn: 'h2' })
  })

  await t.test('h2c (prior knowledge) on the plain port, beside HTTP/1.1', async () => {
    assert.deepEqual(await h2Get(d.proxyUrl, name, ca, 'http'), { status: 200, body: 'hello from hangar\n', alpn: 'h2c' })
    assert.equal((await viaProxy(d, d.app)).body, 'hello from hangar\n')
  })

  await t.test('a user-supplied certificate in <data-dir>/proxy/certs wins over the CA', async () => {
    const dir = join(d.dataDir, 'proxy', 'certs')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`),
      '-days', '2', '-subj', '/CN=user-supplied', '-addext', `subjectAltName=DNS:${name},DNS:user-supplied.test`], { stdio: 'ignore' })
    const own = readFileSync(join(dir, `${name}.crt`), 'utf8')
    const res = await httpsGet(d.proxyHttpsUrl, name, own)
    assert.equal(res.status, 200)
    assert.equal(res.san, `DNS:${name}, DNS:user-supplied.test`)
    await assert.rejects(httpsGet(d.proxyHttpsUrl, name, ca), /self.signed|unable to verify|certificate/i)
  })
})

test('--proxy-redirect-https answers plain HTTP with a 301 to the HTTPS port', async (t) => {
  const d = await daemonWithBusybox(t, 'redir', ['--proxy-redirect-https'])
  const res = await viaProxy(d, d.app, '/some/path?q=1')
  assert.equal(res.status, 301)
  assert.equal(res.headers.location, `https://redir.localhost:${new URL(d.proxyHttpsUrl).port}/some/path?q=1`)
})
