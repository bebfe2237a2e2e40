/**
 * The durability soak: write → checkpoint → stop/start → restore → fork, with
 * the machine's files checked after every step against digests computed here
 * from what was sent (never from what the API answered). A step whose call
 * succeeded but whose files are wrong is a lie (`falseSuccesses`); a call that
 * failed is counted as a failure, honestly reported. Shared by the test (few
 * cycles) and the bench (a thousand).
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Hangar } from '../../src/sdk/index.ts'

export interface SoakReport {
  cycles: number
  /** File-content comparisons made. */
  checks: number
  /** Files missing or wrong after a step that reported success. */
  lostFiles: number
  falseSuccesses: number
  /** Calls that failed (reported as failures). */
  failures: string[]
}

type Files = Map<string, string>

export async function soak(client: Hangar, app: string, id: string, cycles: number, progress: (cycle: number) => void = () => {}): Promise<SoakReport> {
  const hm = client.machines
  const report: SoakReport = { cycles: 0, checks: 0, lostFiles: 0, falseSuccesses: 0, failures: [] }
  let files: Files = new Map()

  const write = async (machine: string, name: string): Promise<void> => {
    const content = randomBytes(2048).toString('hex')
    const r = await hm.exec(app, machine, { command: ['sh', '-c', `mkdir -p /soak && cat > /soak/${name}.tmp && mv /soak/${name}.tmp /soak/${name}`], stdin: content })
    if (r.exit_code !== 0) throw new Error(`write ${name}: ${r.stderr}`)
    files.set(name, createHash('sha256').update(content).digest('hex'))
  }

  /** Compares the machine's /soak with `want`; returns how many files are missing, wrong or extra. */
  const check = async (machine: string, want: Files): Promise<number> => {
    const r = await hm.exec(app, machine, { command: ['sh', '-c', 'cd /soak 2>/dev/null && sha256sum * 2>/dev/null || true'], max_output_bytes: 1 << 20 })
    const seen = new Map(r.stdout.trim().split('\n').filter(Boolean).map((l) => { const [d, n] = l.split(/\s+/); return [n!, d!] as const }))
    report.checks += want.size
    let bad = 0
    for (const [name, digest] of want) if (seen.get(name) !== digest) bad++
    for (const name of seen.keys()) if (!want.has(name)) bad++
    return bad
  }

  const step = async (what: string, call: () => Promise<unknown>, machine: string, want: () => Files): Promise<boolean> => {
    try {
      await call()
    } catch (e) {
      report.failures.push(`${what}: ${String(e)}`)
      return false
    }
    const bad = await check(machine, want())
    if (bad) {
      report.lostFiles += bad
      report.falseSuccesses++
    }
    return true
  }

  for (let i = 0; i < cycles; i++) {
    await write(id, `c${i}`)
    const atCheckpoint = new Map(files)
    let cp = ''
    await step(`cycle ${i} checkpoint`, async () => { cp = (await hm.checkpoint(app, id)).id }, id, () => atCheckpoint)
    await step(`cycle ${i} stop/start`, async () => {
      await hm.stop(app, id)
      await hm.wait(app, id, { state: ['stopped'] })
      await hm.start(app, id)
      await hm.wait(app, id, { state: ['started'] })
    }, id, () => atCheckpoint)
    await write(id, `after${i}`)
    if (cp) {
      await step(`cycle ${i} restore`, async () => {
        await hm.restore(app, id, cp)
        files = new Map(atCheckpoint)
      }, id, () => atCheckpoint)
      let fork = ''
      try {
        fork = (await hm.fork(app, id, { checkpoint: cp })).id
      } catch (e) {
        report.failures.push(`cycle ${i} fork: ${String(e)}`)
      }
      if (fork) {
        const bad = await check(fork, atCheckpoint)
        // The fork writes; the source must not see it.
        await hm.exec(app, fork, { command: ['sh', '-c', 'echo fork > /soak/fork-only'] })
        const leaked = await check(id, atCheckpoint)
        report.lostFiles += bad + leaked
        if (bad || leaked) report.falseSuccesses++
        await hm.destroy(app, fork, { force: true })
      }
    }
    report.cycles++
    progress(i + 1)
  }
  return report
}
