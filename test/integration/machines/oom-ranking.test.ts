import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { daemonWithBusybox } from '../../support/machines.ts'

const score = (pid: number | string): number => Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'))
/** Lowering an oom_score_adj takes CAP_SYS_RESOURCE (bit 24); the test daemon runs with this process's capabilities. */
const canLower = (BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`) >> 24n) & 1n

test('the OOM killer takes machines before the daemon', async (t) => {
  const d = await daemonWithBusybox(t)
  const m = await d.client.machines.create(d.app, { config: { image: d.image } })
  const inside = await d.client.machines.exec(d.app, m.id, { command: ['sh', '-c', 'cat /proc/1/oom_score_adj /proc/self/oom_score_adj'] })
  assert.deepEqual(inside.stdout.split('\n').filter(Boolean).map(Number), [500, 500], 'the machine\'s init and what exec runs in it')

  const daemon = score(d.pid())
  if (canLower) {
    assert.equal(daemon, -500)
  } else {
    // Where root lacks CAP_SYS_RESOURCE (some containers) the daemon stays at 0 and says so; machines still go first.
    assert.equal(daemon, 0)
    assert.match(d.log(), /could not lower the daemon's oom_score_adj/)
  }
  // conmon must outlive the machine to write down its exit: it inherits the daemon's rank and,
  // where it may, drops itself to -1000.
  const conmon = readFileSync(join(d.dataDir, 'runtime', 'machines', m.id, 'conmon.pid'), 'utf8').trim()
  assert.ok(score(conmon) <= daemon, `conmon ${score(conmon)}, daemon ${daemon}`)
  t.diagnostic(`oom_score_adj: daemon ${daemon}, conmon ${score(conmon)}, machine 500 (CAP_SYS_RESOURCE: ${canLower ? 'yes' : 'no'})`)
})
