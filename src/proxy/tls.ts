/**
 * Certificates for the HTTPS listener, chosen per hostname in the SNI callback:
 * a user-supplied `<dir>/certs/<host>.{crt,key}` first; else one issued on
 * demand by a local CA (`<dir>/ca/ca.{crt,key}`, made on first start) and kept
 * in memory and under `<dir>/issued/`. Only hostnames that route somewhere get
 * one, so a scanner sending random SNI names cannot make the proxy issue.
 * Certificates are made with Debian's `openssl` CLI (OpenSSL 3: `req -x509 -CA`).
 */
import { execFile } from 'node:child_process'
import { generateKeyPairSync, X509Certificate } from 'node:crypto'
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createSecureContext, type SecureContext } from 'node:tls'
import { promisify } from 'node:util'
import type { Logger } from 'pino'

const run = promisify(execFile)
const LEAF_DAYS = 90
/** Issued certificates this close to expiry are issued again. */
const RENEW_MS = 7 * 86_400_000
const hostnameRe = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/

export interface CertStoreOptions {
  /** `<data-dir>/proxy` */
  dir: string
  /** Whether a hostname routes to an app (only those get a certificate). */
  routable(host: string): boolean
  /** The name the default certificate (clients sending no SNI) is for: the proxy domain. */
  defaultName: string
  logger: Logger
}

interface Entry {
  ctx: SecureContext
  /** User certs: the file's mtime, to notice a replaced file. Issued: 0. */
  mtime: number
  expires: number
}

export class CertStore {
  readonly #o: CertStoreOptions
  readonly #cache = new Map<string, Entry>()
  readonly #pending = new Map<string, Promise<SecureContext>>()
  readonly caCertPath: string
  readonly #caKeyPath: string

  constructor(o: CertStoreOptions) {
    this.#o = o
    this.caCertPath = join(o.dir, 'ca', 'ca.crt')
    this.#caKeyPath = join(o.dir, 'ca', 'ca.key')
  }

  /** Creates the CA on first start; returns the default certificate (for clients that send no SNI). */
  async init(): Promise<{ key: string; cert: string }> {
    await mkdir(join(this.#o.dir, 'ca'), { recursive: true, mode: 0o700 })
    await mkdir(join(this.#o.dir, 'issued'), { recursive: true, mode: 0o700 })
    await mkdir(join(this.#o.dir, 'certs'), { recursive: true })
    if (!(await exists(this.caCertPath))) {
      const subj = `/O=Hangar/CN=Hangar local CA ${new Date().toISOString().slice(0, 10)}`
      const tmp = `${this.#caKeyPath}.tmp`
      await writeFile(tmp, ecKey(), { mode: 0o600 })
      const { stdout } = await run('openssl', ['req', '-x509', '-new', '-key', tmp, '-subj', subj, '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
      await rename(tmp, this.#caKeyPath)
      await writeFile(this.caCertPath, stdout)
      this.#o.logger.info({ ca: this.caCertPath }, 'proxy: created the local CA for HTTPS; trust this certificate to verify https://<app>.<domain>')
    }
    await chmod(this.#caKeyPath, 0o600)
    return this.#issued(this.#o.defaultName)
  }

  /** For tls/http2 `SNICallback`: the context for `servername`, or an error that ends the handshake. */
  readonly sni = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    this.context(servername.toLowerCase()).then((ctx) => cb(null, ctx), (e: Error) => cb(e))
  }

  async context(host: string): Promise<SecureContext> {
    if (!hostnameRe.test(host)) throw new Error(`not a hostname: ${host}`)
    // User certificates win, and are re-read when their file changes.
    const user = await stat(join(this.#o.dir, 'certs', `${host}.crt`)).catch(() => null)
    const hit = this.#cache.get(host)
    if (hit && (user ? hit.mtime === user.mtimeMs : hit.mtime === 0) && hit.expires - Date.now() > RENEW_MS) return hit.ctx
    if (user) {
      const cert = await readFile(join(this.#o.dir, 'certs', `${host}.crt`), 'utf8')
      const key = await readFile(join(this.#o.dir, 'certs', `${host}.key`), 'utf8')
      const ctx = createSecureContext({ key, cert })
      this.#cache.set(host, { ctx, mtime: user.mtimeMs, expires: Infinity })
      return ctx
    }
    if (!this.#o.routable(host)) throw new Error(`no app at ${host}: no certificate`)
    let p = this.#pending.get(host)
    if (!p) {
      p = this.#issued(host).then(({ key, cert }) => {
        const ctx = createSecureContext({ key, cert })
        this.#cache.set(host, { ctx, mtime: 0, expires: Date.parse(new X509Certificate(cert).validTo) })
        return ctx
      })
      p.finally(() => this.#pending.delete(host)).catch(() => {})
      this.#pending.set(host, p)
    }
    return p
  }

  /** The issued certificate for `host` from disk, or a new one signed by the CA. */
  async #issued(host: string): Promise<{ key: string; cert: string }> {
    const base = join(this.#o.dir, 'issued', host)
    try {
      const [key, cert] = await Promise.all([readFile(`${base}.key`, 'utf8'), readFile(`${base}.crt`, 'utf8')])
      if (Date.parse(new X509Certificate(cert).validTo) - Date.now() > RENEW_MS) return { key, cert }
    } catch {
      /* not issued yet */
    }
    const key = ecKey()
    await writeFile(`${base}.key`, key, { mode: 0o600 })
    const san = host === 'localhost' ? 'DNS:localhost,IP:127.0.0.1,IP:::1' : `DNS:${host}`
    const { stdout: cert } = await run('openssl', [
      'req', '-x509', '-new', '-key', `${base}.key`, '-CA', this.caCertPath, '-CAkey', this.#caKeyPath, '-subj', `/CN=${host}`, '-days', String(LEAF_DAYS),
      '-addext', `subjectAltName=${san}`, '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth', '-addext', 'keyUsage=critical,digitalSignature',
    ])
    await writeFile(`${base}.crt.tmp`, cert)
    await rename(`${base}.crt.tmp`, `${base}.crt`)
    this.#o.logger.debug({ host }, 'proxy: issued a certificate')
    return { key, cert }
  }
}

function ecKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false)
}
