/**
 * Token checking cost per request, in-process: authenticate (parse, HMAC chain, revocation lookup in
 * SQLite) and authorize (the caveats against the request) for macaroons of 3 and 12 caveats, beside
 * the opaque root token (SHA-256 and the same kind of lookup) as the baseline.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { attenuate } from '../src/auth/index.ts'
import { tokensService, type Caller } from '../src/platform/tokens.ts'
import { openStore } from '../src/store/index.ts'
import { median } from './stats.ts'

const calls = Number(process.env.BENCH_TOKEN_CALLS ?? 20_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)

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
}
