/** The OpenAPI 3.1 document, built from the route table and the platform's zod schemas. */
import { z } from 'zod'
import { allowedFrom } from '../../ops/index.ts'
import type { RouteDef } from './route.ts'

/** The success answer: the declared output's JSON Schema, or bytes. */
function answer(r: RouteDef): Record<string, unknown> {
  const spec = r.spec
  if (!spec) return { description: 'success' }
  if (spec.bytes === 'out') return { description: 'the bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }
  const json = { schema: z.toJSONSchema(spec.output, { io: 'output', unrepresentable: 'any' }) }
  return { description: 'success', content: { 'application/json': json, ...(spec.progress ? { 'application/x-ndjson': { schema: { type: 'string', description: 'progress lines ending in {type: "complete", data}' } } } : {}) } }
}

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: { type: 'string', description: '"<class>: <message>", as Fly returns it' },
    status: { type: 'string', description: 'name_taken when a name is already used' },
    code: { type: 'string', description: "Hangar's stable error code (docs/errors.md)" },
    hint: { type: 'string', description: 'what to do next' },
    details: { type: 'object' },
  },
}

function toOpenApiPath(path: string): string {
  return path.replace(/:([a-z_]+)(\{[^}]*\})?/g, '{$1}')
}

export function openApiDocument(routes: RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const path = toOpenApiPath(r.path)
    const params = [...path.matchAll(/\{([a-z_]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }))
    const query = Object.entries(r.query ?? {}).map(([name, description]) => ({ name, in: 'query', required: false, description, schema: { type: 'string' } }))
    const status = String(r.status ?? 200)
    paths[path] ??= {}
    paths[path][r.method] = {
      summary: r.summary,
      ...(r.spec?.states ? { description: `Allowed while the machine is ${allowedFrom[r.spec.states].join(', ')}.`, 'x-allowed-states': allowedFrom[r.spec.states] } : {}),
      tags: [r.tag],
      operationId: r.spec?.id ?? `${r.method}_${path.replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, '')}`,
      parameters: [...params, ...query],
      ...(r.body ? { requestBody: { required: false, content: { 'application/json': { schema: z.toJSONSchema(r.body, { io: 'input', unrepresentable: 'any' }) } } } } : {}),
      responses: {
        [status]: answer(r),
        default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Hangar Machines API', version, description: 'Fly.io Machines API v1-compatible, plus Hangar extensions (logs, images).' },
    servers: [{ url: '/' }],
    components: {
      schemas: { Error: errorSchema },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    security: [{ bearer: [] }],
    paths,
  }
}
