/**
 * A platform operation declared once: how HTTP reaches it, what it takes, what it answers, the
 * token action it needs and the machine states it may start from. The REST route, the OpenAPI
 * entry and the MCP tool's input are derived from the declaration; the platform's binding
 * (platform/operations.ts), the SDK and through it the CLI are type-checked against it.
 * Pure data over zod: the SDK imports it without pulling in the daemon.
 *
 *   export const checkpointCreate = op({
 *     id: 'checkpoint.create', method: 'post', path: '/v1/apps/:app/machines/:id/checkpoint',
 *     params: machineParams, input: checkpointSchema, output: checkpointView, access: { action: 'write' }, states: 'checkpoint', …
 *   })
 */
import { z } from 'zod'
import type { Action } from '../auth/index.ts'
import type { MachineAction } from './states.ts'

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'

export interface OpSpec<P extends z.ZodObject = z.ZodObject, I extends z.ZodType | undefined = z.ZodType | undefined, O extends z.ZodType = z.ZodType> {
  /** Stable and unique: names the operation in OpenAPI (operationId), in logs and in the coverage test. */
  id: string
  method: Method
  /** Hono path; every `:name` is a key of `params`. */
  path: string
  tag: string
  summary: string
  /** Path parameters. */
  params: P
  /** The JSON body (post, put, patch) or the query (get, delete); the service parses it with this very schema. */
  input?: I
  output: O
  /**
   * What the caller's token must allow, with the app (`app`) and machine (`id`) taken from the
   * params. A `listing` lists that resource and filters the list itself; `about` tokens touches no app.
   */
  access: { action: Action; listing?: 'apps' | 'machines'; about?: 'tokens' | 'tokenizer' }
  /** For machine operations: the row of the machine state table (states.ts) saying which states it may start from. */
  states?: MachineAction
  /** Answers NDJSON progress lines ending in `complete` to a client that sends Accept: application/x-ndjson. */
  progress?: true
  /** Honours the fly-machine-lease-nonce header. */
  lease?: true
  /** Takes an idempotency key (REST Idempotency-Key, MCP idempotency_key): a retry gets the first result back. */
  idempotent?: true
  /** A body-taking operation that also reads its input from the query (the body wins), as Fly's clients send either. */
  queryToo?: true
  /** Success status when not 200. */
  status?: number
  /** Raw bytes travel instead of JSON: `in`, the request body (the input is then the query); `out`, the answer. */
  bytes?: 'in' | 'out'
}

/** Keeps the declaration's literal types (its schemas) while checking its shape. */
export function op<const S extends OpSpec>(spec: S): S {
  for (const name of paramNames(spec.path)) if (!(name in spec.params.shape)) throw new Error(`${spec.id}: path parameter :${name} is not in params`)
  return spec
}

/** The `:name` parameters of a path, in order. */
export function paramNames(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1] as string)
}

/** What the caller sends: the path parameters. */
export type OpParams<S extends OpSpec> = z.input<S['params']>
/** What the caller sends as body or query (nothing for operations that take none). */
export type OpInput<S extends OpSpec> = S['input'] extends z.ZodType ? z.input<S['input']> : undefined
/** What the operation answers. */
export type OpResult<S extends OpSpec> = z.output<S['output']>
/** Query parameters as OpenAPI documents them, from an input schema of a get or delete. */
export function queryDocs(spec: OpSpec): Record<string, string> {
  if (!spec.input || !(spec.method === 'get' || spec.method === 'delete')) return {}
  const shape = shapeOf(spec.input)
  return Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, (s as z.ZodType).description ?? '']))
}

/** An object schema's fields, looking through transforms (a pipe's input side). */
function shapeOf(schema: z.ZodType): Record<string, z.ZodType> {
  const def = (schema as { def?: { type?: string; in?: z.ZodType } }).def
  if (def?.type === 'pipe' && def.in) return shapeOf(def.in)
  return (schema as z.ZodObject).shape ?? {}
}

/** The path with its parameters filled in, each encoded. */
export function fillPath(spec: OpSpec, params: Record<string, string>): string {
  return spec.path.replace(/:([A-Za-z_]+)/g, (_, name: string) => {
    const v = params[name]
    if (v === undefined || v === '') throw new Error(`${spec.id}: missing path parameter ${name}`)
    return encodeURIComponent(v)
  })
}

/** True for operations whose input travels as the query string. */
export const inputInQuery = (spec: OpSpec): boolean => spec.method === 'get' || spec.method === 'delete'
