/** /v1/tokenizer: the tokenizer's seal key and address, and sealing a secret for it. */
import type { Context } from 'hono'
import { HangarError, isHangarError } from '../../errors.ts'
import type { Platform } from '../../platform/index.ts'
import { sealSchema } from '../../platform/index.ts'
import { readJson, type RouteDef } from './route.ts'

/** The body to seal; a JSON error says where, never what (V8's message quotes the text, which holds the credential). */
async function secretBody(c: Context): Promise<unknown> {
  try {
    return await readJson(c)
  } catch (e) {
    if (isHangarError(e) && e.code === 'malformed_json') throw new HangarError('malformed_json', 'request body is not valid JSON')
    throw e
  }
}

export function tokenizerRoutes(platform: Platform): RouteDef[] {
  return [
    {
      method: 'get', path: '/v1/tokenizer', access: { action: 'read', about: 'tokenizer' }, tag: 'tokenizer',
      summary: 'The tokenizer\'s seal key (what secrets are sealed to; superfly/tokenizer\'s format) and the proxy address machines use (their gateway) and the host\'s (loopback)',
      handler: (c) => c.json(platform.tokenizer.info()),
    },
    {
      method: 'post', path: '/v1/tokenizer/seal', access: { action: 'secrets', about: 'tokenizer' }, tag: 'tokenizer', body: sealSchema,
      summary: 'Seal a secret (superfly/tokenizer\'s JSON: one processor, one auth block, allowed_hosts or allowed_host_pattern) to the tokenizer\'s key; only the sealed value comes back',
      handler: async (c) => c.json(await platform.tokenizer.seal(await secretBody(c))),
    },
  ]
}
