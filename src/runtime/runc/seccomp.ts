/**
 * Turns the containers-common seccomp profile (Docker/podman format, with
 * per-rule includes/excludes on capabilities, architectures and kernel version)
 * into the OCI runtime-spec `linux.seccomp` object, resolved for this host's
 * architecture and the capability set we grant — what Docker does in
 * profiles/seccomp/seccomp.go, so machines get the same maintained allowlist.
 */
import { readFile } from 'node:fs/promises'
import { release } from 'node:os'
import { HangarError } from '../../errors.ts'
import { hardenProfile } from './syscall-policy.ts'

interface ProfileRule {
  names?: string[]
  name?: string
  action: string
  errnoRet?: number
  args?: { index: number; value: number; valueTwo?: number; op: string }[] | null
  includes?: { arches?: string[]; caps?: string[]; minKernel?: string }
  excludes?: { arches?: string[]; caps?: string[] }
}

interface Profile {
  defaultAction: string
  defaultErrnoRet?: number
  archMap?: { architecture: string; subArchitectures?: string[] }[]
  syscalls?: ProfileRule[]
}

export interface OciSeccomp {
  defaultAction: string
  defaultErrnoRet?: number
  architectures: string[]
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: number; valueTwo: number; op: string }[] }[]
}

/** Node's process.arch → the Go arch names the profile uses, and the libseccomp name. */
const arches: Record<string, { go: string; scmp: string }> = {
  x64: { go: 'amd64', scmp: 'SCMP_ARCH_X86_64' },
  arm64: { go: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
  ppc64: { go: 'ppc64le', scmp: 'SCMP_ARCH_PPC64LE' },
  s390x: { go: 's390x', scmp: 'SCMP_ARCH_S390X' },
  riscv64: { go: 'riscv64', scmp: 'SCMP_ARCH_RISCV64' },
}

function kernelAtLeast(min: string): boolean {
  const have = release().split(/[.-]/).map(Number)
  const want = min.split('.').map(Number)
  for (let i = 0; i < want.length; i++) {
    const h = have[i] ?? 0
    const w = want[i] ?? 0
    if (h !== w) return h > w
  }
  return true
}

/** Resolves a parsed profile against the granted capabilities ("CAP_…" names). */
export function convertProfile(profile: Profile, caps: string[], arch = process.arch): OciSeccomp {
  const native = arches[arch]
  if (!native) throw new Error(`no seccomp architecture mapping for ${arch}`)
  const entry = profile.archMap?.find((a) => a.architecture === native.scmp)
  const syscalls: OciSeccomp['syscalls'] = []
  for (const rule of profile.syscalls ?? []) {
    const inc = rule.includes ?? {}
    const exc = rule.excludes ?? {}
    if (inc.arches?.length && !inc.arches.includes(native.go)) continue
    if (exc.arches?.includes(native.go)) continue
    // Docker's rule: every included cap must be granted; any excluded one granted drops the rule.
    if (inc.caps?.length && !inc.caps.every((c) => caps.includes(c))) continue
    if (exc.caps?.some((c) => caps.includes(c))) continue
    if (inc.minKernel && !kernelAtLeast(inc.minKernel)) continue
    const names = rule.names ?? (rule.name ? [rule.name] : [])
    if (names.length === 0) continue
    syscalls.push({
      names,
      action: rule.action,
      ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}),
      ...(rule.args?.length ? { args: rule.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op })) } : {}),
    })
  }
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures: entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [native.scmp],
    syscalls,
  }
}

/**
 * Reads and converts a profile file, with Hangar's refusals on top. A missing or unreadable
 * profile is an error: a machine never runs without its filter.
 */
export async function loadProfile(path: string, caps: string[]): Promise<OciSeccomp> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    throw new HangarError('unavailable', `cannot read the seccomp profile ${path}: ${(e as Error).message}`, {
      hint: 'install it (apt-get install golang-github-containers-common) or name another with the driver\'s seccompProfile; machines never run unfiltered',
    })
  }
  return hardenProfile(convertProfile(JSON.parse(text) as Profile, caps))
}
