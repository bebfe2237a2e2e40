/** Secret tools: write-only app secrets (credentials a machine gets as env vars), listed by name and digest. */
import { z } from 'zod'
import { changes, defineTool, destroys, readOnly } from '../tool.ts'
import { appName } from './fields.ts'

const name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).max(256).meta({ description: 'Secret name: it becomes the env var of that name in the app\'s machines.', examples: ['DATABASE_URL'] })
const secretView = z.object({ name: z.string(), digest: z.string(), updated_at: z.string() })
type SecretLike = z.infer<typeof secretView>
const brief = (s: SecretLike): SecretLike => ({ name: s.name, digest: s.digest, updated_at: s.updated_at })
const rollout = (app: string): string => `machines get them when created or updated (machine_update with refresh_secrets: true on each machine of ${app}); running machines keep the values they were given`

export const secretTools = [
  defineTool({
    name: 'secret_set',
    action: 'secrets',
    title: 'Set app secrets',
    description: 'Store credentials for an app\'s machines: each becomes an env var (and can back a config.files entry) in machines created or updated afterwards. Write-only: nothing ever shows the value again, not even to you; secret_list shows a digest that changes when the value does.',
    input: z.object({
      app: appName,
      values: z.record(name, z.string()).refine((v) => Object.keys(v).length > 0, 'give at least one secret').meta({ description: 'NAME → value; all are set in one new version.', examples: [{ DATABASE_URL: 'postgres://…' }] }),
    }),
    output: z.object({ version: z.number(), secrets: z.array(secretView) }),
    annotations: changes,
    async run({ app, values }, { backend }) {
      const r = await backend.secrets.update(app, values)
      const set = r.secrets.filter((s) => s.name in values).map(brief)
      return { structured: { version: r.version, secrets: set }, text: `set ${set.map((s) => s.name).join(', ')} in app ${app} (secrets version ${r.version}); ${rollout(app)}` }
    },
  }),

  defineTool({
    name: 'secret_unset',
    action: 'secrets',
    title: 'Unset app secrets',
    description: 'Remove secrets from an app. Machines created or updated afterwards no longer get them; running machines keep theirs until updated. Names that are not set are ignored.',
    input: z.object({ app: appName, names: z.array(name).min(1).max(256).meta({ description: 'Secret names to remove.' }) }),
    output: z.object({ version: z.number(), remaining: z.number() }),
    annotations: destroys,
    async run({ app, names }, { backend }) {
      const r = await backend.secrets.update(app, Object.fromEntries(names.map((n) => [n, null])))
      return { structured: { version: r.version, remaining: r.secrets.length }, text: `unset ${names.join(', ')} in app ${app} (secrets version ${r.version}, ${r.secrets.length} left); ${rollout(app)}` }
    },
  }),

  defineTool({
    name: 'secret_list',
    action: 'secrets',
    title: 'List app secrets',
    description: 'The app\'s secret names with a digest of each value (equal digests, equal values) and the secrets version. Values are never shown.',
    input: z.object({ app: appName }),
    output: z.object({ version: z.number(), secrets: z.array(secretView) }),
    annotations: readOnly,
    async run({ app }, { backend }) {
      const r = await backend.secrets.list(app)
      const secrets = r.secrets.map(brief)
      const lines = secrets.map((s) => `${s.name} ${s.digest} ${s.updated_at}`)
      return { structured: { version: r.version, secrets }, text: secrets.length ? [`secrets version ${r.version}:`, ...lines].join('\n') : `app ${app} has no secrets; set some with secret_set` }
    },
  }),
]
