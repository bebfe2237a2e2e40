/**
 * Test networks that never collide. Test files run side by side, each with its
 * own daemons and drivers, and two bridges on one /24 send one test's packets
 * to the other's machines. A number n (1-250) claimed here is this process's
 * alone until it exits: it names 10.209.n.0/24 (driver tests) and 10.210.n.0/24
 * (daemon tests). Claims of dead processes are taken back; numbers whose blocks
 * a leftover bridge still holds are skipped.
 */
import { execFileSync } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'

const dir = '/run/hangar-test-subnets'
const mine: string[] = []
process.on('exit', () => {
  for (const file of mine) {
    try {
      unlinkSync(file)
    } catch {
      // already gone
    }
  }
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Third octets of the 10.209/16 and 10.210/16 blocks some interface holds now (a /20, like `hangar up`'s default, holds sixteen). */
function held(): Set<number> {
  const text = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' })
  const busy = new Set<number>()
  for (const m of text.matchAll(/inet 10\.(?:209|210)\.(\d+)\.\d+\/(\d+)/g)) {
    const span = 2 ** Math.max(0, 24 - Number(m[2]))
    const first = Number(m[1]) - (Number(m[1]) % span)
    for (let n = first; n < first + span; n++) busy.add(n)
  }
  return busy
}

function tryClaim(file: string): boolean {
  try {
    const fd = openSync(file, 'wx')
    writeSync(fd, String(process.pid))
    closeSync(fd)
    mine.push(file)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  }
  let owner: number
  try {
    owner = Number(readFileSync(file, 'utf8'))
  } catch {
    // Its owner let it go just now: try again.
    return tryClaim(file)
  }
  // A file still empty is being written by its claimer right now.
  if (!owner || alive(owner)) return false
  try {
    unlinkSync(file)
  } catch {
    // another process took it back first
  }
  return tryClaim(file)
}

export function claimSubnetIndex(): number {
  mkdirSync(dir, { recursive: true })
  const busy = held()
  const first = randomInt(0, 250)
  for (let i = 0; i < 250; i++) {
    const n = ((first + i) % 250) + 1
    if (!busy.has(n) && tryClaim(join(dir, String(n)))) return n
  }
  throw new Error(`no free test subnet: all 250 numbers are claimed in ${dir} or held by interfaces`)
}
