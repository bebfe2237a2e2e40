/**
 * Latency the tokenizer adds. An HTTPS upstream on loopback (its own process, a CA made with
 * openssl for the run) answers small GETs; the same client, one request in flight, keep-alive
 * everywhere, asks it (a) directly over TLS and (b) through the tokenizer over plain HTTP with a
 * sealed secret (bearer auth, allowed host), which injects and goes on over TLS. Rounds alternate
 * direct and through, `BENCH_TOKENIZER_REQUESTS` (500) requests each, `BENCH_ROUNDS` (5) rounds;
 * p50 and p99 over all of each. Then (c) the same through the tokenizer with a different sealed
 * secret on every request, so each one is opened (X25519 + the box) instead of found in its cache.
 * Target: ≤ 1 ms added at p50.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTokenizer, seal } from '../src/tokenizer/index.ts'
import { makeTestCa } from '../test/support/tls-upstream.ts'
import { summary, verdict } from './stats.ts'

const ms = (n: number): string => `${n.toFixed(3)} ms`

const perRound = Number(process.env.BENCH_TOKENIZER_REQUESTS ?? 500)
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)

const upstreamSource = `
const https = require('node:https'), fs = require('node:fs')
const body = Buffer.from('{"ok":true}')
const s = https.createServer({ key: fs.readFileSync(process.argv[1]), cert: fs.readFileSync(process.argv[2]) }, (req, res) => {
  req.resume(); res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }); res.end(body)
})
s.keepAliveTimeout = 60000
s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'))`

function timed(send: (done: (status: number) => void) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    send((status) => (status === 200 ? resolve(performance.now() - t0) : reject(new Error(`status ${status}`))))
  })
}

export async function benchTokenizer(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hangar-bench-tkz-'))
  let child: ChildProcess | undefined
  try {
    const files = makeTestCa(dir)
    child = spawn(process.execPath, ['-e', upstreamSource, files.key, files.cert], { stdio: ['ignore', 'pipe', 'inherit'] })
    const port = await new Promise<number>((resolve) => child!.stdout!.once('data', (d) => resolve(Number(String(d).trim()))))
    const ca = await readFile(files.ca, 'utf8')
    const authority = `localhost:${port}`
    const tokenizer = await createTokenizer({ openKey: randomBytes(32).toString('hex'), ca: [ca], allowNets: ['127.0.0.0/8'] })
    const { port: tport } = await tokenizer.listen('127.0.0.1', 0)
    const digest = createHash('sha256').update('bench-proxy-token').digest('base64')
    const secretJson = (n: number): string => JSON.stringify({ inject_processor: { token: `sk_bench_${n}` }, bearer_auth: { digest }, allowed_hosts: [authority] })
    const sealed = await seal(secretJson(0), tokenizer.sealKey)
    const fresh: string[] = []
    for (let i = 0; i < perRound; i++) fresh.push(await seal(secretJson(i + 1), tokenizer.sealKey))

    const tlsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca })
    const plainAgent = new HttpAgent({ keepAlive: true, maxSockets: 1 })
    const direct = (): Promise<number> => timed((done) => {
      httpsRequest({ agent: tlsAgent, host: 'localhost', port, path: '/v1/messages' }, (res) => res.resume().on('end', () => done(res.statusCode ?? 0))).end()
    })
    const through = (secret: string): Promise<number> => timed((done) => {
      httpRequest({ agent: plainAgent, host: '127.0.0.1', port: tport, path: `http://${authority}/v1/messages`, headers: { host: authority, 'proxy-tokenizer': secret, 'proxy-authorization': 'Bearer bench-proxy-token' } },
        (res) => res.resume().on('end', () => done(res.statusCode ?? 0))).end()
    })
    // Warm-up: connections, TLS sessions, JIT, the secret's cache entry.
    for (let i = 0; i < 200; i++) await direct(), await through(sealed)
    const d: number[] = []
    const t: number[] = []
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < perRound; i++) d.push(await direct())
      for (let i = 0; i < perRound; i++) t.push(await through(sealed))
    }
    const cold: number[] = []
    for (const s of fresh) cold.push(await through(s))
    const sd = summary(d)
    const st = summary(t)
    const sc = summary(cold)
    const added50 = st.p50 - sd.p50
    console.log(`tokenizer: GET over keep-alive, one in flight, ${rounds} interleaved rounds × ${perRound} (p50 / p99)`)
    console.log(`  direct TLS to the upstream       ${ms(sd.p50)} / ${ms(sd.p99)}`)
    console.log(`  through the tokenizer            ${ms(st.p50)} / ${ms(st.p99)}  added ${(added50 * 1000).toFixed(0)} µs p50, ${((st.p99 - sd.p99) * 1000).toFixed(0)} µs p99 (target ≤ 1 ms p50) ${verdict(added50 <= 1)}`)
    console.log(`  a new sealed secret each request ${ms(sc.p50)} / ${ms(sc.p99)}  (${perRound} requests: each secret opened, not cached)`)
    tlsAgent.destroy()
    plainAgent.destroy()
    await tokenizer.close()
  } finally {
    child?.kill()
    await rm(dir, { recursive: true, force: true })
  }
}
