/** Input fields several tools share, described once for the agent reading tools/list. */
import { z } from 'zod'
import { budgets } from '../budget.ts'

export const appName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'app names are lower-case letters, digits and dashes, at most 63')
  .meta({ description: 'App name (a group of machines).', examples: ['demo'] })

export const machineId = z.string().min(1).meta({ description: 'Machine id, as machine_run or machine_list returned it.', examples: ['3d8f0a1b2c4e5f'] })

export const machineRef = { app: appName, id: machineId }

/** The dedupe itself happens in the daemon (platform/idempotency.ts), so both MCP backends share it. */
export const idempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .optional()
  .meta({
    description: 'Any unique string you choose. If this call is retried with the same key (after a timeout, say), the first result comes back instead of a second resource being made.',
    examples: ['run-web-2024-06-01-a'],
  })

export const limit = z.number().int().min(1).max(500).default(budgets.listItems).meta({ description: `Most items to return (default ${budgets.listItems}).` })
export const offset = z.number().int().min(0).default(0).meta({ description: 'Skip this many items: pass next_offset from the previous page.' })

export const machineStates = ['created', 'starting', 'started', 'stopping', 'stopped', 'suspending', 'suspended', 'replacing', 'destroying', 'destroyed', 'failed'] as const

/** The compact machine line lists and statuses share. */
export const machineSummary = z.object({
  id: z.string(),
  name: z.string(),
  state: z.string(),
  image: z.string(),
  private_ip: z.string().nullable(),
})

export function summary(m: { id: string; name: string; state: string; private_ip: string | null; config: Record<string, unknown> }): z.infer<typeof machineSummary> {
  return { id: m.id, name: m.name, state: m.state, image: String(m.config.image ?? ''), private_ip: m.private_ip }
}
