/** Path parameters operations share. */
import { z } from 'zod'

export const appParams = z.object({ app: z.string().min(1).describe('the app\'s name') })
export const machineParams = appParams.extend({ id: z.string().min(1).describe('the machine\'s id') })
export const checkpointParams = machineParams.extend({ cp: z.string().min(1).describe('the checkpoint\'s id ("v3")') })
export const volumeParams = appParams.extend({ vid: z.string().min(1).describe('the volume\'s id ("vol_…")') })

/** `{ok: true}`, what Fly answers for verbs with nothing else to say. */
export const ok = z.object({ ok: z.literal(true) })
