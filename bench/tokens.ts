/**
 * Token checking cost per request, in-process: authenticate (parse, HMAC chain, revocation lookup in
 * SQLite) and authorize (the caveats against the request) for macaroons of 3 and 12 caveats, beside
 * the opaque root token (SHA-256 and the same kind of lookup) as the baseline. Then throughput
 * through the real daemon (`BENCH_TOKEN_REQUESTS` a round, 16 at a time) with a scoped token beside
 * the root token, in interleaved rounds, for an API GET of a machine and a /v2 GET of an app's image
 * manifest: the target is ≤ 5 % slower.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { attenuate } from '../src/auth/index.ts'
import { tokensService, type Caller } from '../src/platform/tokens.ts'
import { openStore } from '../src/store/index.ts'
import { median, verdict } from './stats.ts'
import { benchDaemon } from './bench-daemon.ts'
import { openAsBlob } from 'node:fs'
import { buildBusyboxImage } from '../test/support/images.ts'

const calls = Number(process.env.BENCH_TOKEN_CALLS ?? 20_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const requests = Number(process.env.BENCH_TOKEN_REQUESTS ?? 4000)

/** Requests per second for `requests` GETs of `url`, 16 in flight. */
async function rate(url: string, token: string, headers: Record<string, string> = {}): Promise<number> {
  let left = requests
  const t0 = performance.now()
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (left-- > 0) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, ...headers } })
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`${url}: ${res.status}`)
    }
  }))
  return requests / ((performance.now() - t0) / 1000)
}

/** Root and scoped token in interleaved rounds on one URL; prints the medians and the ratio. */
async function compare(what: string, url: string, root: string, scoped: string, scopedName: string, headers: Record<string, string> = {}): Promise<void> {
  await rate(url, root, headers), await rate(url, scoped, headers) // warm-up
  const ratios: number[] = []
  const rates: Record<string, number[]> = { root: [], scoped: [] }
  for (let r = 0; r < rounds; r++) {
    const a = await rate(url, root, headers)
    const s = await rate(url, scoped, headers)
    rates.root!.push(a)
    rates.scoped!.push(s)
    ratios.push(s / a)
  }
  const ratio = median(ratios)
  console.log(`tokens: ${what}, requests/s, medians of ${rounds} interleaved rounds × ${requests}`)
  console.log(`  root ${median(rates.root!).toFixed(0)}/s, ${scopedName} ${median(rates.scoped!).toFixed(0)}/s: ${ratio.toFixed(3)}× (target ≥ 0.95×) ${verdict(ratio >= 0.95)}`)
}

async function throughput(): Promise<void> {
  const b = await benchDaemon()
  try {
    await b.client.apps.create('web')
    const m = await b.client.machines.create('web', { skip_launch: true, config: { image: 'busybox:latest' } })
    const root = b.client.token
    const scoped = (await b.client.tokens.create({ apps: ['web'], machines: [m.id], actions: ['read'], expires_in: 3600 })).token
    await compare('API GET of a machine', `${b.daemon.url}/v1/apps/web/machines/${m.id}`, root, scoped, 'scoped (4 caveats)')
    // /v2 checks the token per repository: an app's image, pulled by its manifest.
    const dir = await mkdtemp(join(tmpdir(), 'hangar-bench-img-'))
    try {
      await b.client.images.import(await openAsBlob((await buildBusyboxImage(dir)).path), { tag: 'web/busybox:latest' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    const puller = (await b.client.tokens.create({ apps: ['web'], actions: ['images'], expires_in: 3600 })).token
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' }
    await compare('/v2 GET of an app\'s image manifest', `${b.daemon.url}/v2/web/busybox/manifests/latest`, root, puller, 'scoped (3 caveats)', accept)
  } finally {
    await b.close()
  }
}

export async function benchTokens(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hangar-bench-tokens-'))
  try {
    const tokens = tokensService(openStore({ path: join(dir, 'hangar.db') }), randomBytes(32))
    const root = tokens.issue('root')
    const rootCaller: Caller = { id: 'root', name: 'root', kind: 'opaque', caveats: [] }
    const scoped = tokens.create(rootCaller, { apps: ['web'], actions: ['read', 'write'], expires_in: 3600 }).token
    let deep = scoped
    for (let i = 0; i < 9; i++) deep = attenuate(deep, [{ type: 'machines', machines: ['m1', `m${i + 2}`] }])
    const per = (token: string): number => {
      const header = `Bearer ${token}`
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < calls; i++) tokens.authorize(tokens.authenticate(header), { action: 'read', app: 'web', machine: 'm1', source: '127.0.0.1' })
      return Number(process.hrtime.bigint() - t0) / 1e3 / calls
    }
    const samples: Record<string, number[]> = { root: [], '3 caveats': [], '12 caveats': [] }
    per(root), per(scoped), per(deep) // warm-up
    for (let r = 0; r < rounds; r++) {
      samples.root!.push(per(root))
      samples['3 caveats']!.push(per(scoped))
      samples['12 caveats']!.push(per(deep))
    }
    const base = median(samples.root!)
    console.log(`tokens: µs per request (authenticate + authorize), medians of ${rounds} rounds × ${calls} calls`)
    for (const [name, xs] of Object.entries(samples)) console.log(`  ${name.padEnd(11)} ${median(xs).toFixed(1).padStart(6)} µs  (${(median(xs) / base).toFixed(2)}× the root token)`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  await throughput()
}
