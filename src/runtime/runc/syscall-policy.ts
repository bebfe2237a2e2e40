/**
 * Hangar's own word on top of the containers-common seccomp profile. That
 * profile is Podman's: it allows unshare, clone with namespace flags, keyctl
 * and the new mount API outright, trusting capabilities to stop misuse. A
 * machine's root may be hostile, and a user namespace needs no capability to
 * create: from there CAP_SYS_ADMIN over a fresh mount and network namespace
 * reaches the nf_tables / fsconfig kernel-bug class that ends in host root.
 * So what follows is refused whatever the capabilities say (docs/security.md
 * says why for each).
 */
import type { OciSeccomp } from './seccomp.ts'

const EPERM = 1
const ENOSYS = 38

const EINVAL = 22
const [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_ALG] = [1, 2, 10, 16, 17, 38]
const [SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_DCCP, SOCK_PACKET] = [1, 2, 3, 5, 6, 10]
const NETLINK_AUDIT = 9

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET, as Docker's profile masks them. */
export const NAMESPACE_FLAGS = 0x7e020000

/**
 * Refused with EPERM: nested namespaces (setns), the kernel keyring (not namespaced by
 * container), eBPF, perf events, userfaultfd (a race-widening primitive), io_uring
 * (its own syscall surface, which seccomp cannot see into), the new mount API, and what
 * Docker refuses besides (kexec, modules, open_by_handle_at, …).
 */
export const DENIED = [
  'setns', 'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'userfaultfd',
  'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  'fsopen', 'fsconfig', 'fsmount', 'fspick', 'open_tree', 'move_mount', 'mount_setattr',
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'open_by_handle_at',
  'lookup_dcookie', 'quotactl', 'quotactl_fd', 'acct', 'swapon', 'swapoff', 'reboot', 'nfsservctl',
  'vm86', 'vm86old', 'uselib', 'pivot_root',
]

const eq = (index: number, value: number) => ({ index, value, valueTwo: 0, op: 'SCMP_CMP_EQ' })
const masked = (index: number, mask: number, value: number) => ({ index, value: mask, valueTwo: value, op: 'SCMP_CMP_MASKED_EQ' })
const SOCK_TYPE_MASK = 0xf

/**
 * socket(2) by family, as disjoint rules (libseccomp lets an overlapping allow win over a refusal,
 * so the profile's own socket rules are replaced, not added to). Allowed: unix, netlink (but the
 * audit protocol, EINVAL as the profile has it), the kernel crypto API, and IPv4/IPv6 streams,
 * datagrams (ICMP echo included), SCTP-style seqpacket and DCCP. Refused with EPERM: raw and packet
 * sockets (ARP/NDP spoofing, forged router advertisements). CAP_NET_RAW stays in the set only so
 * that programs carrying it as a file capability (Debian's ping) can be executed; it opens nothing.
 * Every other family (TIPC, RDS, CAN, XDP, Bluetooth, …: old, rarely used, often exploited code)
 * gets the profile's default, ENOSYS.
 */
function socketRules(): OciSeccomp['syscalls'] {
  const allow = (...args: ReturnType<typeof eq>[]) => ({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args })
  const refuse = (errnoRet: number, ...args: ReturnType<typeof eq>[]) => ({ names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet, args })
  const rules: OciSeccomp['syscalls'] = [
    allow(eq(0, AF_UNIX)),
    allow(eq(0, AF_ALG)),
    allow(eq(0, AF_NETLINK), { index: 2, value: NETLINK_AUDIT, valueTwo: 0, op: 'SCMP_CMP_NE' }),
    refuse(EINVAL, eq(0, AF_NETLINK), eq(2, NETLINK_AUDIT)),
    refuse(EPERM, eq(0, AF_PACKET)),
  ]
  for (const family of [AF_INET, AF_INET6]) {
    for (const type of [SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_DCCP]) rules.push(allow(eq(0, family), masked(1, SOCK_TYPE_MASK, type)))
    for (const type of [SOCK_RAW, SOCK_PACKET]) rules.push(refuse(EPERM, eq(0, family), masked(1, SOCK_TYPE_MASK, type)))
  }
  return rules
}

/** Which argument holds clone's flags: s390 swaps the first two. */
function cloneFlagsArg(arch: string): number {
  return arch === 's390x' ? 1 : 0
}

/**
 * The profile with Hangar's refusals applied: every DENIED name out of every allow rule and
 * refused explicitly; clone and unshare allowed only without namespace flags; clone3 answered
 * ENOSYS, since its flags live in memory seccomp cannot read, and glibc then falls back to clone.
 */
export function hardenProfile(profile: OciSeccomp, arch = process.arch): OciSeccomp {
  // Rules for these are replaced by Hangar's own below, whatever their action in the profile.
  const replaced = new Set(['clone', 'clone3', 'unshare', 'socket'])
  const denied = new Set([...DENIED, ...replaced])
  const syscalls: OciSeccomp['syscalls'] = []
  for (const rule of profile.syscalls) {
    const names = rule.names.filter((n) => !(rule.action === 'SCMP_ACT_ALLOW' ? denied : replaced).has(n))
    if (names.length > 0) syscalls.push({ ...rule, names })
  }
  // One EPERM rule per namespace flag (a flag set is refused), so the refusal reads "Operation not
  // permitted" rather than the profile's default ENOSYS.
  const flags = Array.from({ length: 32 }, (_, bit) => 2 ** bit).filter((f) => (NAMESPACE_FLAGS & f) !== 0)
  for (const [name, index] of [['clone', cloneFlagsArg(arch)], ['unshare', 0]] as const) {
    syscalls.push({ names: [name], action: 'SCMP_ACT_ALLOW', args: [masked(index, NAMESPACE_FLAGS, 0)] })
    for (const f of flags) syscalls.push({ names: [name], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [masked(index, f, f)] })
  }
  syscalls.push(...socketRules())
  syscalls.push(
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    { names: DENIED, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
  )
  // The native ABI only. 32-bit x86 multiplexes socket() through socketcall, whose arguments sit in
  // memory out of the filter's sight (libseccomp turns the socket rules above into socketcall rules
  // that cannot check them): a machine's 32-bit program could open the packet sockets refused above.
  return { ...profile, architectures: profile.architectures.slice(0, 1), syscalls }
}
