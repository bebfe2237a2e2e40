import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FIRST_BASE, IdRanges, RANGE_SIZE } from './id-ranges.ts'
import { Layout } from './layout.ts'

function host(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-ranges-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const registry = join(dir, 'registry')
  const daemon = (name: string) => {
    const layout = new Layout(join(dir, name))
    mkdirSync(layout.machinesDir, { recursive: true })
    /** A machine dir with its idmap, as provision.ts leaves it. */
    const machine = (id: string, base?: number) => {
      mkdirSync(join(layout.machinesDir, id), { recursive: true })
      if (base !== undefined) writeFileSync(join(layout.machinesDir, id, 'idmap'), String(base))
    }
    return { layout, machine, open: () => IdRanges.load(layout, { registry }) }
  }
  return { daemon }
}

test('two daemons on one host never hand out the same range', async (t) => {
  const h = host(t)
  const a = h.daemon('a')
  const b = h.daemon('b')
  const [ra, rb] = [await a.open(), await b.open()]
  const got = new Set<number>()
  for (let i = 0; i < 5; i++) {
    a.machine(`a${i}`)
    b.machine(`b${i}`)
    got.add(ra.allocate(`a${i}`))
    got.add(rb.allocate(`b${i}`))
  }
  assert.equal(got.size, 10)
  for (const base of got) assert.equal((base - FIRST_BASE) % RANGE_SIZE, 0)
})

test('a released range, or one whose machine dir is gone, is claimed again; one mid-create is not', async (t) => {
  const h = host(t)
  const a = h.daemon('a')
  const b = h.daemon('b')
  const ra = await a.open()
  a.machine('gone')
  const first = ra.allocate('gone')
  a.machine('creating')
  const second = ra.allocate('creating')
  // b walks from the first slot: "gone" is stale once its dir is removed, "creating" (dir, no idmap yet) is live.
  rmSync(join(a.layout.machinesDir, 'gone'), { recursive: true })
  const rb = await b.open()
  b.machine('x')
  assert.equal(rb.allocate('x'), first)
  b.machine('y')
  const y = rb.allocate('y')
  assert.notEqual(y, second)
  rb.release(y)
  // A third daemon walks from the first slot too: x and creating are live, y was released.
  const c = h.daemon('c')
  const rc = await c.open()
  c.machine('z')
  assert.equal(rc.allocate('z'), y, 'a released range is free again')
})

test('load claims the ranges of machines already on disk', async (t) => {
  const h = host(t)
  const a = h.daemon('a')
  a.machine('old', FIRST_BASE)
  await a.open()
  const b = h.daemon('b')
  const rb = await b.open()
  b.machine('new')
  assert.notEqual(rb.allocate('new'), FIRST_BASE)
})
