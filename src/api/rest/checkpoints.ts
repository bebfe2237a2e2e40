/**
 * /v1/apps/{app}/machines/{id}/checkpoint(s) and /fork, in the Sprites API's shape under a
 * Fly-style machine path. Checkpoint and restore answer JSON, or, to a client that sends
 * `Accept: application/x-ndjson`, Sprites' progress stream: `{type: "info", data, time}` lines
 * ending in `{type: "complete", data: <result>, time}` (or `{type: "error", error, code, time}`).
 */
import type { Context } from 'hono'
import { stream } from 'hono/streaming'
import { toHangarError } from '../../errors.ts'
import type { Platform, Progress } from '../../platform/index.ts'
import { checkpointSchema, forkSchema } from '../../platform/index.ts'
import { nonceOf, readJson, type RouteDef } from './route.ts'

const M = '/v1/apps/:app/machines/:id'
const ids = (c: Context): [string, string] => [c.req.param('app') as string, c.req.param('id') as string]
const cpOf = (c: Context): string => c.req.param('cp') as string

/** JSON, or NDJSON progress lines ending in `complete` when the client asks for them. */
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

export function checkpointRoutes(platform: Platform): RouteDef[] {
  const cps = platform.checkpoints
  return [
    {
      method: 'post', path: `${M}/checkpoint`, access: { action: 'write' }, tag: 'checkpoints', body: checkpointSchema, status: 200,
      summary: 'Checkpoint the machine\'s disk (running machines are frozen for the instant of capture); answers {id, create_time, comment, source_id, size_bytes}, or NDJSON progress with Accept: application/x-ndjson',
      handler: async (c) => {
        const body = await readJson(c)
        return withProgress(c, (progress) => cps.create(...ids(c), body, nonceOf(c), progress))
      },
    },
    {
      method: 'get', path: `${M}/checkpoints`, access: { action: 'read' }, tag: 'checkpoints', summary: 'List the machine\'s checkpoints, oldest first',
      handler: (c) => c.json(cps.list(...ids(c))),
    },
    {
      method: 'get', path: `${M}/checkpoints/:cp`, access: { action: 'read' }, tag: 'checkpoints', summary: 'Get one checkpoint',
      handler: (c) => c.json(cps.get(...ids(c), cpOf(c))),
    },
    {
      method: 'delete', path: `${M}/checkpoints/:cp`, access: { action: 'delete' }, tag: 'checkpoints', summary: 'Delete a checkpoint',
      handler: async (c) => c.json(await cps.delete(...ids(c), cpOf(c), nonceOf(c))),
    },
    {
      method: 'post', path: `${M}/checkpoints/:cp/restore`, access: { action: 'write' }, tag: 'checkpoints',
      summary: 'Put the machine\'s disk back as it was at the checkpoint: a running machine restarts on it, a stopped one stays stopped; NDJSON progress with Accept: application/x-ndjson',
      handler: (c) => withProgress(c, (progress) => cps.restore(...ids(c), cpOf(c), nonceOf(c), progress)),
    },
    {
      method: 'post', path: `${M}/fork`, access: { action: 'create' }, tag: 'checkpoints', body: forkSchema, status: 200,
      summary: 'New machines with this machine\'s config whose disks start as one of its checkpoints (or its disk now); answers the Machine, or a list with count',
      handler: async (c) => c.json(await cps.fork(...ids(c), await readJson(c), nonceOf(c))),
    },
  ]
}
