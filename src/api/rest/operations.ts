/**
 * REST routes derived from the declared operations (src/ops): path, method, access, body and
 * OpenAPI entry come from the declaration, the work from the platform's binding. A handler only
 * reads the request the way the declaration says (params, JSON body or query, raw bytes) and
 * writes the answer (JSON, NDJSON progress, or a byte stream).
 */
import { Readable } from 'node:stream'
import type { Context } from 'hono'
import { stream } from 'hono/streaming'
import { toHangarError } from '../../errors.ts'
import { inputInQuery, queryDocs, type OpSpec } from '../../ops/index.ts'
import type { Platform, Progress } from '../../platform/index.ts'
import { operationsOf, type Bound, type ByteAnswer, type Call } from '../../platform/operations.ts'
import { parse } from '../../platform/validate.ts'
import { nonceOf, readJson, type RouteDef } from './route.ts'

/** JSON, or Sprites' NDJSON progress lines ending in `complete` when the client asks for them. */
async function withProgress(c: Context, run: (progress: Progress) => Promise<unknown>): Promise<Response> {
  if (!(c.req.header('accept') ?? '').includes('application/x-ndjson')) return c.json(await run(() => {}))
  c.header('Content-Type', 'application/x-ndjson')
  return stream(c, async (s) => {
    const line = (event: Record<string, unknown>) => s.write(`${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`)
    try {
      const result = await run((message) => void line({ type: 'info', data: message }))
      await line({ type: 'complete', data: result })
    } catch (e) {
      const err = toHangarError(e, 'runtime_error')
      await line({ type: 'error', error: err.message, code: err.code, hint: err.hint })
    }
  })
}

/** A byte stream as the response; a client that goes away stops the helper behind it. */
function streamed(c: Context, a: ByteAnswer): Response {
  return c.body(Readable.toWeb(a.stream) as ReadableStream, 200, { 'content-type': a.type, ...a.headers })
}

async function inputOf(c: Context, spec: OpSpec): Promise<unknown> {
  if (!spec.input) return undefined
  return inputInQuery(spec) || spec.bytes === 'in' ? c.req.query() : readJson(c)
}

function route(b: Bound): RouteDef {
  const { spec, run } = b
  return {
    method: spec.method, path: spec.path, summary: spec.summary, tag: spec.tag, access: spec.access, spec,
    ...(spec.input && !inputInQuery(spec) && spec.bytes !== 'in' ? { body: spec.input } : {}),
    ...(inputInQuery(spec) || spec.bytes === 'in' ? { query: queryDocs({ ...spec, method: 'get' }) } : {}),
    ...(spec.status ? { status: spec.status } : {}),
    handler: async (c) => {
      const params = parse(spec.params, c.req.param(), 'path')
      const input = await inputOf(c, spec)
      const call: Call = { ...nonceOf(c), signal: c.req.raw.signal }
      if (spec.bytes === 'in') call.body = c.req.raw.body ? Readable.fromWeb(c.req.raw.body as never) : null
      if (spec.bytes === 'out') return streamed(c, (await run(params, input, call)) as ByteAnswer)
      if (spec.progress) return withProgress(c, async (progress) => run(params, input, { ...call, progress }))
      return c.json(await run(params, input, call), (spec.status ?? 200) as 200)
    },
  }
}

/** Every declared operation the platform binds, as a route. */
export function operationRoutes(platform: Platform): RouteDef[] {
  return [...operationsOf(platform).values()].map(route)
}
