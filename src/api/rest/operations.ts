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
import { callerOf, nonceOf, readJson, readObject, type RouteDef } from './route.ts'

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

/** The query as an object; a repeated parameter (`?state=a&state=b`) as a list. */
function queryOf(c: Context): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(c.req.queries()).map(([k, v]) => [k, v.length === 1 ? (v[0] as string) : v]))
}

async function inputOf(c: Context, spec: OpSpec): Promise<unknown> {
  if (!spec.input) return undefined
  if (inputInQuery(spec) || spec.bytes === 'in') return queryOf(c)
  if (!spec.queryToo) return readJson(c)
  return { ...queryOf(c), ...(await readObject(c)) }
}

function route(b: Bound): RouteDef {
  const { spec, run } = b
  return {
    method: spec.method, path: spec.path, summary: spec.summary, tag: spec.tag, access: spec.access, spec,
    ...(spec.input && !inputInQuery(spec) && spec.bytes !== 'in' ? { body: spec.input } : {}),
    ...(inputInQuery(spec) || spec.bytes === 'in' || spec.queryToo ? { query: queryDocs({ ...spec, method: 'get' }) } : {}),
    ...(spec.status ? { status: spec.status } : {}),
    handler: async (c) => {
      const params = parse(spec.params, c.req.param(), 'path')
      const input = await inputOf(c, spec)
      const key = spec.idempotent ? c.req.header('idempotency-key') : undefined
      const call: Call = { ...nonceOf(c), caller: callerOf(c), signal: c.req.raw.signal, ...(key !== undefined ? { idempotencyKey: key } : {}) }
      if (spec.bytes === 'in') call.body = c.req.raw.body ? Readable.fromWeb(c.req.raw.body as never) : null
      if (spec.bytes === 'out') return streamed(c, (await run(params, input, call)) as ByteAnswer)
      if (spec.progress) return withProgress(c, async (progress) => run(params, input, { ...call, progress }))
      const answer = await run(params, input, call)
      // An operation that answers nothing (202, 204) sends no body.
      return answer === undefined ? c.body(null, (spec.status ?? 204) as 204) : c.json(answer, (spec.status ?? 200) as 200)
    },
  }
}

/** Every declared operation the platform binds, as a route. */
export function operationRoutes(platform: Platform): RouteDef[] {
  return [...operationsOf(platform).values()].map(route)
}
