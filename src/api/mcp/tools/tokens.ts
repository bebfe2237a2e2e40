/** token_create: a robot hands a sub-agent a token narrower than its own, without asking anyone. */
import { z } from 'zod'
import { actions } from '../../../auth/index.ts'
import { creates, defineTool } from '../tool.ts'
import { appName, machineId } from './fields.ts'

export const tokenTools = [
  defineTool({
    name: 'token_create',
    action: 'tokens',
    title: 'Mint a narrower token',
    description: 'Mint an API token for a sub-agent or a script: it carries every restriction of your own token plus the ones given here, so it can never do more than you can. Give it only the apps, machines and actions the job needs, and an expiry. The token is shown once; give it to the sub-agent as `Authorization: Bearer <token>`.',
    input: z.object({
      apps: z.array(appName).min(1).optional().meta({ description: 'Only these apps.' }),
      machines: z.array(machineId).min(1).optional().meta({ description: 'Only these machines.' }),
      actions: z.array(z.enum(actions)).min(1).optional().meta({ description: 'Only these actions: read, write (config and lifecycle), create, delete, exec (exec, console, files), secrets, images, tokens (minting).' }),
      expires_in: z.union([z.number().positive(), z.string().min(1)]).optional().meta({ description: 'Seconds, or a duration like "1h".', examples: [3600, '30m'] }),
      description: z.string().max(200).optional().meta({ description: 'Who or what the token is for; shown by token listings.' }),
    }),
    output: z.object({ id: z.string(), token: z.string(), caveats: z.array(z.looseObject({ type: z.string() })) }),
    annotations: creates,
    async run(args, { backend }) {
      const req = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined))
      const t = await backend.tokens.create(req)
      const caveats = t.caveats.map((c) => ({ ...c }))
      return { structured: { id: t.id, token: t.token, caveats }, text: `token ${t.id} (${caveats.map((c) => c.type).join(', ') || 'no caveats'}):\n${t.token}\nGive it to the sub-agent as Authorization: Bearer <token>; it is not shown again.` }
    },
  }),
]
