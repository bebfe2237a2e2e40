/** Finds which app a machine id or name belongs to, so people need not repeat --app. */
import { HangarError, type Hangar, type Machine } from '../sdk/index.ts'

export async function findMachine(client: Hangar, idOrName: string, app?: string): Promise<{ app: string; machine: Machine }> {
  const apps = app ? [app] : (await client.apps.list()).apps.map((a) => a.name)
  for (const a of apps) {
    const hit = (await client.machines.list(a)).find((m) => m.id === idOrName || m.name === idOrName)
    if (hit) return { app: a, machine: hit }
  }
  throw new HangarError('machine_not_found', `no machine with id or name ${idOrName}${app ? ` in app ${app}` : ''}`, {
    hint: 'list machines with `hangar machine list`',
  })
}

/** Parses repeated --env K=V flags. */
export function envPairs(values: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  for (const kv of (values as string[] | undefined) ?? []) {
    const i = kv.indexOf('=')
    if (i <= 0) throw new HangarError('invalid_argument', `--env takes KEY=VALUE, got "${kv}"`)
    out[kv.slice(0, i)] = kv.slice(i + 1)
  }
  return out
}

export function intFlag(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n)) throw new HangarError('invalid_argument', `--${name} takes an integer, got "${v}"`)
  return n
}
