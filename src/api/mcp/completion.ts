/**
 * completion/complete for the resource templates' arguments: {app} from the apps
 * that exist, {id} from the machines of context.arguments.app (of every app
 * without it). Hangar has no prompts, so a ref/prompt names nothing: -32602.
 *   handleCompletion(server.server, backend)
 */
import { appList, machineList } from '../../ops/index.ts'
import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js'
import { CompleteRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { isHangarError } from '../../errors.ts'
import type { Backend } from './backend.ts'
import { handle, invalidParams } from './requests.ts'
import { templates } from './resources.ts'

/** The spec's cap on values per answer; total and hasMore say how many more matched. */
export const maxValues = 100

type Candidates = (backend: Backend, value: string, context: Record<string, string>) => Promise<string[]>

/**
 * Matches first by prefix, then by substring, case-insensitively; each group sorted.
 * `keys` gives the texts a candidate may match by (a machine's id and its name).
 */
export function rank<T>(items: readonly T[], value: string, keys: (t: T) => string[], out: (t: T) => string): string[] {
  const v = value.toLowerCase()
  const byPrefix: string[] = []
  const bySubstring: string[] = []
  for (const t of items) {
    const ks = keys(t).map((k) => k.toLowerCase())
    if (ks.some((k) => k.startsWith(v))) byPrefix.push(out(t))
    else if (ks.some((k) => k.includes(v))) bySubstring.push(out(t))
  }
  return [...new Set([...byPrefix.sort(), ...bySubstring.sort()])]
}

const apps: Candidates = async (backend, value) => rank((await backend.run(appList, {}, {})).apps, value, (a) => [a.name], (a) => a.name)

const machineIds: Candidates = async (backend, value, context) => {
  const names = context.app ? [context.app] : (await backend.run(appList, {}, {})).apps.map((a) => a.name)
  const machines = []
  for (const app of names) {
    try {
      machines.push(...(await backend.run(machineList, { app }, {})))
    } catch (e) {
      // An app typed wrong (or gone) has no machines to offer; that is an empty answer, not an error.
      if (!isHangarError(e) || e.code !== 'app_not_found') throw e
    }
  }
  return rank(machines, value, (m) => [m.id, m.name], (m) => m.id)
}

/** By argument name: every template's {app} is an app, every {id} a machine id. */
export const byArgument: Record<string, Candidates> = { app: apps, id: machineIds }

const variables = new Map(templates.map((t) => [t.uriTemplate, new UriTemplate(t.uriTemplate).variableNames]))

export function handleCompletion(server: Server, backend: Backend): void {
  handle(server, CompleteRequestSchema, async ({ ref, argument, context }) => {
    if (ref.type === 'ref/prompt') throw invalidParams(`no prompt named ${ref.name}: Hangar has no prompts`)
    const names = variables.get(ref.uri)
    if (!names) throw invalidParams(`no resource template ${ref.uri}; Hangar's are ${[...variables.keys()].join(', ')}`)
    const complete = names.includes(argument.name) ? byArgument[argument.name] : undefined
    if (!complete) throw invalidParams(`${ref.uri} has no argument ${argument.name}; it takes ${names.join(', ')}`)
    const all = await complete(backend, argument.value, context?.arguments ?? {})
    return { completion: { values: all.slice(0, maxValues), total: all.length, hasMore: all.length > maxValues } }
  })
}
