/**
 * What a machine runs, from its image config and its `init` overrides, with
 * Docker's rules: `exec` replaces everything, a new entrypoint drops the
 * image's cmd, a new cmd keeps the image's entrypoint.
 */
import type { ImageConfig } from '../images/types.ts'
import type { ProcessSpec } from '../runtime/types.ts'
import type { MachineConfig } from '../ops/schemas.ts'
import { HangarError } from '../errors.ts'

export interface MachineIdentity {
  id: string
  name: string
  app: string
  region: string
  version: string
  imageRef: string
  privateIp: string | null
}

export function resolveArgs(init: MachineConfig['init'], image: ImageConfig): string[] {
  if (init?.exec?.length) return init.exec
  const entrypoint = init?.entrypoint ?? image.entrypoint
  const cmd = init?.cmd ?? (init?.entrypoint ? [] : image.cmd)
  const args = [...entrypoint, ...cmd]
  if (args.length === 0) {
    throw new HangarError('invalid_argument', 'the image has no Entrypoint or Cmd and config.init gives no command', {
      hint: 'set config.init.cmd, e.g. ["sleep", "infinity"]',
    })
  }
  return args
}

/** Image env, then Fly's machine variables, then the config's env: later wins. */
export function resolveEnv(config: MachineConfig, image: ImageConfig, who: MachineIdentity): string[] {
  const env = new Map<string, string>()
  for (const kv of image.env) {
    const i = kv.indexOf('=')
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1))
  }
  if (!env.has('PATH')) env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
  const platform: Record<string, string | null> = {
    FLY_APP_NAME: who.app,
    FLY_MACHINE_ID: who.id,
    FLY_ALLOC_ID: who.id,
    FLY_REGION: who.region,
    FLY_IMAGE_REF: who.imageRef,
    FLY_MACHINE_VERSION: who.version,
    FLY_PRIVATE_IP: who.privateIp,
    FLY_PROCESS_GROUP: config.metadata?.fly_process_group ?? 'app',
  }
  for (const [k, v] of Object.entries(platform)) if (v !== null) env.set(k, v)
  for (const [k, v] of Object.entries(config.env ?? {})) env.set(k, v)
  return [...env].map(([k, v]) => `${k}=${v}`)
}

export function resolveProcess(config: MachineConfig, image: ImageConfig, who: MachineIdentity): ProcessSpec {
  return {
    args: resolveArgs(config.init, image),
    env: resolveEnv(config, image, who),
    cwd: image.workingDir || '/',
    ...(image.user ? { user: image.user } : {}),
  }
}
