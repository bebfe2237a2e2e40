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
  const denied = new Set([...DENIED, 'clone', 'clone3', 'unshare'])
  const syscalls: OciSeccomp['syscalls'] = []
  for (const rule of profile.syscalls) {
    if (rule.action !== 'SCMP_ACT_ALLOW') {
      syscalls.push(rule)
      continue
    }
    const names = rule.names.filter((n) => !denied.has(n))
    if (names.length > 0) syscalls.push({ ...rule, names })
  }
  const masked = (index: number, mask: number, value: number) => ({ index, value: mask, valueTwo: value, op: 'SCMP_CMP_MASKED_EQ' })
  // One EPERM rule per namespace flag (a flag set is refused), so the refusal reads "Operation not
  // permitted" rather than the profile's default ENOSYS.
  const flags = Array.from({ length: 32 }, (_, bit) => 2 ** bit).filter((f) => (NAMESPACE_FLAGS & f) !== 0)
  for (const [name, index] of [['clone', cloneFlagsArg(arch)], ['unshare', 0]] as const) {
    syscalls.push({ names: [name], action: 'SCMP_ACT_ALLOW', args: [masked(index, NAMESPACE_FLAGS, 0)] })
    for (const f of flags) syscalls.push({ names: [name], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [masked(index, f, f)] })
  }
  syscalls.push(
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    { names: DENIED, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
  )
  return { ...profile, syscalls }
}
