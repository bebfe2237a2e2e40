/**
 * tokenizer_seal: turn a credential into a placeholder a robot can hold. The tokenizer (outside
 * every machine) swaps it for the real one on the way out, only toward the hosts named here.
 */
import { z } from 'zod'
import { HangarError } from '../../../errors.ts'
import { creates, defineTool } from '../tool.ts'

const host = z.string().min(1).max(256).regex(/^(?:[a-z0-9.-]+|\[[0-9a-f:]+\])(?::\d{1,5})?$/i, 'expected host or host:port')

export const tokenizerTools = [
  defineTool({
    name: 'tokenizer_seal',
    action: 'secrets',
    title: 'Seal a credential for the tokenizer',
    description: 'Seal an API key or token so a machine (or you) never holds the real value: you get back a sealed placeholder. A machine sends plain http:// requests through the tokenizer proxy with the header `Proxy-Tokenizer: <sealed>`; the tokenizer puts the real credential in the request (a header, or a body placeholder) and sends it on over HTTPS, only to `allowed_hosts`. Use it before giving a robot access to a third-party API (mail, payments, a model provider). The credential is not stored anywhere and is never shown again.',
    input: z.object({
      credential: z.string().min(1).max(8192).meta({ description: 'The real secret (API key, token). Never returned.' }),
      allowed_hosts: z.array(host).min(1).max(64).meta({ description: 'Hosts the credential may be sent to, exactly as requests will name them (add :port for a port other than 80/443).', examples: [['api.example.com']] }),
      header: z.string().min(1).max(128).optional().meta({ description: 'Header to put it in (default Authorization).', examples: ['X-Api-Key'] }),
      format: z.string().min(1).max(256).optional().meta({ description: 'How the header value is written; one %s stands for the credential (default "Bearer %s").', examples: ['Bearer %s', '%s', 'token %s'] }),
      body_placeholder: z.string().min(1).max(256).optional().meta({ description: 'Instead of a header: replace this text in the request body with the credential (e.g. "{{API_KEY}}").' }),
      proxy_token: z.string().min(1).max(4096).optional().meta({ description: 'If set, requests must also send Proxy-Authorization: Bearer <proxy_token> to use the secret. Without it, anything that reaches the tokenizer with the sealed value can use it (toward allowed_hosts only).' }),
    }),
    output: z.object({
      sealed: z.string(),
      proxy: z.string().nullable().meta({ description: 'The tokenizer\'s address for machines (http_proxy); null until a machine exists.' }),
    }),
    annotations: creates,
    async run(args, { backend }) {
      if (args.body_placeholder && (args.header || args.format)) {
        throw new HangarError('invalid_argument', 'body_placeholder puts the credential in the body: leave header and format out')
      }
      const processor = args.body_placeholder
        ? { inject_body_processor: { token: args.credential, placeholder: args.body_placeholder } }
        : { inject_processor: { token: args.credential, ...(args.header ? { dst: args.header } : {}), ...(args.format ? { fmt: args.format } : {}) } }
      const { sealed } = await backend.tokenizer.seal({
        ...processor,
        ...(args.proxy_token ? { bearer_auth: { token: args.proxy_token } } : { no_auth: {} }),
        allowed_hosts: args.allowed_hosts,
      })
      const proxy = (await backend.tokenizer.info()).address
      const auth = args.proxy_token ? '\n  Proxy-Authorization: Bearer <your proxy_token>' : ''
      return {
        structured: { sealed, proxy },
        text: `sealed (give this, not the credential, to the machine):\n${sealed}\n\nIn the machine, send plain http:// (not https://) requests to ${args.allowed_hosts.join(', ')} through the tokenizer${proxy ? ` (http_proxy=${proxy})` : ''} with the header\n  Proxy-Tokenizer: <sealed>${auth}\nThe tokenizer adds the credential and connects over HTTPS itself.`,
      }
    },
  }),
]
