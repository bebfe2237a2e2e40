import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DENIED, NAMESPACE_FLAGS, hardenProfile } from './syscall-policy.ts'
import { loadProfile } from './seccomp.ts'
import type { OciSeccomp } from './seccomp.ts'

const podmanLike: OciSeccomp = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 38,
  architectures: ['SCMP_ARCH_X86_64'],
  syscalls: [
    { names: ['read', 'write', 'unshare', 'clone', 'clone3', 'keyctl', 'io_uring_setup', 'setns'], action: 'SCMP_ACT_ALLOW' },
    { names: ['bpf'], action: 'SCMP_ACT_ALLOW' },
    { names: ['kexec_load'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
  ],
}

test('no allow rule names a denied syscall; each is refused with EPERM, clone3 with ENOSYS', () => {
  const hardened = hardenProfile(podmanLike)
  const allowedPlain = hardened.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names)
  assert.deepEqual(allowedPlain, ['read', 'write'])
  const deny = hardened.syscalls.find((r) => r.names === DENIED)
  assert.equal(deny?.errnoRet, 1)
  for (const n of ['keyctl', 'io_uring_setup', 'setns', 'bpf']) assert.ok(deny?.names.includes(n), n)
  assert.deepEqual(hardened.syscalls.find((r) => r.names.includes('clone3')), { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 })
  assert.ok(hardened.syscalls.some((r) => r.action === 'SCMP_ACT_ERRNO' && r.names.includes('kexec_load')), 'existing refusals stay')
})

test('clone and unshare are allowed only with no namespace flag; each flag set is EPERM', () => {
  const hardened = hardenProfile(podmanLike)
  for (const name of ['clone', 'unshare']) {
    const rules = hardened.syscalls.filter((r) => r.names.length === 1 && r.names[0] === name)
    const allow = rules.filter((r) => r.action === 'SCMP_ACT_ALLOW')
    assert.deepEqual(allow.map((r) => r.args), [[{ index: 0, value: NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]])
    const refused = rules.filter((r) => r.action === 'SCMP_ACT_ERRNO').map((r) => r.args![0]!)
    assert.equal(refused.length, 7, 'NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET')
    assert.ok(refused.some((a) => a.value === 0x10000000 && a.valueTwo === 0x10000000), 'CLONE_NEWUSER')
  }
  assert.equal(hardenProfile(podmanLike, 's390x').syscalls.find((r) => r.names[0] === 'clone' && r.action === 'SCMP_ACT_ALLOW' && r.args)?.args?.[0]?.index, 1)
})

test('a missing profile is an error naming the package, never a machine without a filter', async () => {
  await assert.rejects(loadProfile('/nonexistent/seccomp.json', []), (e: Error & { code?: string; hint?: string }) => {
    assert.equal(e.code, 'unavailable')
    assert.match(e.hint ?? '', /golang-github-containers-common/)
    return true
  })
})

test('socket: raw and packet sockets are refused, the everyday families allowed, and no profile rule for socket survives', () => {
  const withSocket: OciSeccomp = { ...podmanLike, syscalls: [...podmanLike.syscalls, { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: 9, valueTwo: 0, op: 'SCMP_CMP_NE' }] }] }
  const rules = hardenProfile(withSocket).syscalls.filter((r) => r.names.includes('socket'))
  assert.ok(rules.every((r) => r.names.length === 1 && r.args?.length), 'only Hangar\'s own, conditional, rules')
  const family = (r: (typeof rules)[number]) => r.args![0]!.value
  const type = (r: (typeof rules)[number]) => r.args![1]?.valueTwo
  const refused = rules.filter((r) => r.action === 'SCMP_ACT_ERRNO' && r.errnoRet === 1)
  assert.deepEqual(refused.map((r) => [family(r), type(r)]), [[17, undefined], [2, 3], [2, 10], [10, 3], [10, 10]])
  const allowed = rules.filter((r) => r.action === 'SCMP_ACT_ALLOW')
  assert.deepEqual([...new Set(allowed.map(family))].sort((a, b) => a - b), [1, 2, 10, 16, 38])
  // Disjoint from the refusals: libseccomp lets an overlapping allow win.
  for (const a of allowed) for (const r of refused) assert.ok(family(a) !== family(r) || (type(a) !== undefined && type(a) !== type(r)))
})
