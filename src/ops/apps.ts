/** Apps: list, create, get, delete, and the app's egress policy. */
import { z } from 'zod'
import type { AppView } from '../platform/apps.ts'
import type { NetworkPolicyView } from '../platform/network-policy.ts'
import { appParams } from './params.ts'
import { flag } from './query.ts'
import { createApp, networkPolicySchema } from './schemas.ts'
import { op } from './spec.ts'

const appView = z.custom<AppView>()
const policyView = z.custom<NetworkPolicyView>()

export const appList = op({
  id: 'app.list', method: 'get', path: '/v1/apps', tag: 'apps', params: z.object({}), input: z.object({ org_slug: z.string().optional().describe('only apps of this organization') }),
  output: z.object({ total_apps: z.number(), apps: z.array(appView) }), access: { action: 'read', listing: 'apps' }, summary: 'List apps (a token limited to some apps sees only those)',
})
export const appCreate = op({
  id: 'app.create', method: 'post', path: '/v1/apps', tag: 'apps', params: z.object({}), input: createApp, output: appView, status: 201,
  access: { action: 'create' }, idempotent: true, summary: 'Create an app (an Idempotency-Key header makes retries return the first result)',
})
export const appGet = op({ id: 'app.get', method: 'get', path: '/v1/apps/:app', tag: 'apps', params: appParams, output: appView, access: { action: 'read' }, summary: 'Get an app' })
export const appDestroy = op({
  id: 'app.destroy', method: 'delete', path: '/v1/apps/:app', tag: 'apps', params: appParams, input: z.object({ force: flag.describe('stop running machines first') }),
  output: z.void(), status: 202, access: { action: 'delete' }, summary: 'Delete an app and its machines',
})
export const appPolicyGet = op({
  id: 'app.policy_get', method: 'get', path: '/v1/apps/:app/policy/network', tag: 'apps', params: appParams, output: policyView, access: { action: 'read' },
  summary: 'Get the app\'s egress policy (Sprites\' network-policy shape; an empty list means the defaults)',
})
export const appPolicySet = op({
  id: 'app.policy_set', method: 'post', path: '/v1/apps/:app/policy/network', tag: 'apps', params: appParams, input: networkPolicySchema, output: policyView, access: { action: 'write' },
  summary: 'Replace the app\'s egress policy: ordered {cidr|domain, action: allow|deny} rules, first match wins, then the defaults (internet allowed; private, link-local and loopback ranges refused). Domain rules judge DNS names; an allowed name\'s addresses are reachable ahead of the CIDR rules',
})
