/**
 * The daemon's tokenizer: its open key in <data-dir>/tokenizer-key (made at first start, 0600,
 * never in hangar.db), the CA files and allowed blocks from the config, a listener on the host's
 * loopback and one on each machine network's gateway (the firewall lets machines reach that port
 * there, ahead of their app's egress rules, which the tokenizer applies itself to where it goes
 * on their behalf). A gateway address exists only once its bridge does,
 * so those listeners are tried again whenever a machine changes state, until they stand.
 *
 *   const tkz = await openTokenizer(config, logger, (source, host) => platform.tokenizer.judgeEgress(source, host))
 *   await tkz.listen()                // loopback
 *   platform.events.subscribe(() => tkz.reachGateways())
 */
import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { HangarError } from '../errors.ts'
import { firstHost } from '../lib/cidr.ts'
import { createTokenizer, type EgressCheck } from '../tokenizer/index.ts'
import type { DaemonConfig } from './config.ts'
import { ensureKeyFile } from './key-file.ts'

export interface DaemonTokenizer {
  sealKey: string
  /** The proxy URLs: for machines (the IPv4 gateway) and for the host; null until listening. */
  where(): { address: string | null; host_address: string | null }
  /** Listens on the host address; resolves with its URL. */
  listen(): Promise<string>
  /** Listens on each gateway not yet listened on; quiet while a bridge does not exist yet. */
  reachGateways(): void
  close(): Promise<void>
}

const url = (host: string, port: number): string => `http://${host.includes(':') ? `[${host}]` : host}:${port}`
/** An IPv6 address is unusable for a moment after it is added (duplicate address detection): retry a while. */
const retryMs = 2000
const maxRetries = 15

/** `egress`: the sender's app policy for a host, by the sender's address (the platform's judge). */
export async function openTokenizer(config: DaemonConfig, logger: Logger, egress: (source: string, hostname: string) => EgressCheck): Promise<DaemonTokenizer> {
  const c = config.tokenizer
  const key = await ensureKeyFile(config.dataDir, 'tokenizer-key', 'every secret sealed to it then fails to open')
  const ca = await Promise.all(c.ca.map(async (f) => {
    try {
      return await readFile(f, 'utf8')
    } catch (e) {
      throw new HangarError('invalid_argument', `--tokenizer-ca ${f}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'name a readable PEM file of the CA to trust' })
    }
  }))
  const log = logger.child({ room: 'tokenizer' })
  const tkz = await createTokenizer({ openKey: key.toString('hex'), ca, allowNets: c.allowNets, logger: log, egress })
  const gateways = [firstHost(config.network.subnet), firstHost(config.network.subnet6)]
  const bound = new Set<string>()
  const trying = new Set<string>()
  let hostUrl: string | null = null
  let retry: NodeJS.Timeout | null = null
  let retries = 0
  let closed = false
  const warned = new Set<string>()

  const reachGateways = (): void => {
    if (closed) return
    const pending = gateways.filter((g) => !bound.has(g) && !trying.has(g))
    if (!pending.length) return
    void Promise.all(pending.map(async (g) => {
      trying.add(g)
      try {
        await tkz.listen(g, c.gatewayPort)
        bound.add(g)
        log.info({ address: url(g, c.gatewayPort) }, 'tokenizer listening for machines')
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        // No bridge yet (or a fresh IPv6 address): the next machine event, or the retry, tries again.
        if (code !== 'EADDRNOTAVAIL' && !warned.has(g)) {
          warned.add(g)
          log.warn({ address: url(g, c.gatewayPort), err: String(e) }, 'the tokenizer cannot listen on the machines\' gateway; machines cannot reach it (--tokenizer-gateway-port)')
        }
      } finally {
        trying.delete(g)
      }
    })).then(() => {
      if (closed || bound.size === gateways.length || retry || retries >= maxRetries) return
      retries++
      retry = setTimeout(() => {
        retry = null
        reachGateways()
      }, retryMs)
      retry.unref()
    })
  }

  return {
    sealKey: tkz.sealKey,
    where: () => ({ address: bound.has(gateways[0]!) ? url(gateways[0]!, c.gatewayPort) : null, host_address: hostUrl }),
    async listen() {
      try {
        const a = await tkz.listen(c.host, c.port)
        hostUrl = url(c.host, a.port)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e
        throw new HangarError('unavailable', `${c.host}:${c.port} (the tokenizer) is already in use (another \`hangar up\`?)`, { hint: 'stop whatever listens there, or choose another port with --tokenizer-port', cause: e })
      }
      retries = 0
      reachGateways()
      return hostUrl
    },
    reachGateways() {
      retries = 0
      reachGateways()
    },
    async close() {
      closed = true
      if (retry) clearTimeout(retry)
      await tkz.close()
    },
  }
}
