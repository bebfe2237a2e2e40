/**
 * /v1/apps/{app}/secrets: Fly's app secrets, write-only. Every route needs the `secrets` action on
 * the app; answers carry names, digests and versions, never a value (show_secrets=true is refused).
 */
import type { Context } from 'hono'
import type { Platform, SecretsQuery } from '../../platform/index.ts'
import { setSecretSchema, updateSecretsSchema } from '../../platform/index.ts'
import { boolQuery, readJson, type RouteDef } from './route.ts'

const S = '/v1/apps/:app/secrets'
const app = (c: Context): string => c.req.param('app') as string
const name = (c: Context): string => c.req.param('name') as string

/** Fly's spec says min_version; fly-go sends version. */
const query = (c: Context): SecretsQuery => ({ min_version: c.req.query('min_version') ?? c.req.query('version'), show_secrets: boolQuery(c, 'show_secrets') })
const queryDoc = { min_version: 'refuse (400 out_of_range) unless the app\'s secrets have reached this version; `version` is read the same way', show_secrets: 'refused (403 secrets_write_only): values are never returned' }

/** Fly answers `version` and its deprecated twin `Version`; clients read either. */
const versioned = <T extends object>(body: T & { version: number }): T & { version: number; Version: number } => ({ ...body, Version: body.version })

export function secretRoutes(platform: Platform): RouteDef[] {
  const secrets = platform.secrets
  return [
    {
      method: 'get', path: S, access: { action: 'secrets' }, tag: 'secrets', query: queryDoc,
      summary: 'List the app\'s secrets: {secrets: [{name, digest, created_at, updated_at}]}, never a value',
      handler: (c) => c.json({ secrets: secrets.list(app(c), query(c)).secrets }),
    },
    {
      method: 'post', path: S, access: { action: 'secrets' }, tag: 'secrets', body: updateSecretsSchema, status: 200,
      summary: 'Set and unset secrets in one new version: {values: {NAME: "value" or null}}; answers {secrets, version}. Machines get the new values when they are created or updated',
      handler: async (c) => c.json(versioned(secrets.update(app(c), await readJson(c)))),
    },
    {
      method: 'get', path: `${S}/:name`, access: { action: 'secrets' }, tag: 'secrets', query: queryDoc,
      summary: 'One secret\'s name, digest and times (never its value)',
      handler: (c) => c.json(secrets.get(app(c), name(c), query(c))),
    },
    {
      method: 'post', path: `${S}/:name`, access: { action: 'secrets' }, tag: 'secrets', body: setSecretSchema, status: 201,
      summary: 'Set one secret: {value}; answers {name, digest, created_at, updated_at, version}',
      handler: async (c) => c.json(versioned(secrets.set(app(c), name(c), await readJson(c))), 201),
    },
    {
      method: 'delete', path: `${S}/:name`, access: { action: 'secrets' }, tag: 'secrets',
      summary: 'Unset one secret: answers {version}; 404 secret_not_found when it is not set',
      handler: (c) => c.json(versioned(secrets.unset(app(c), name(c)))),
    },
  ]
}
