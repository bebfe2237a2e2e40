/**
 * HangarError → Fly's error body: {"error": "<class>: <message>"} plus Hangar's
 * own code, hint and details, which Fly clients ignore and robots act on.
 */
import type { Context } from 'hono'
import type { Logger } from 'pino'
import { type HangarError, toHangarError } from '../../errors.ts'

export function errorBody(e: HangarError): Record<string, unknown> {
  const prefixed = /^[a-z_]+: /.test(e.message) ? e.message : `${e.grpcClass}: ${e.message}`
  return {
    error: prefixed,
    ...(e.code === 'name_taken' ? { status: 'name_taken' } : {}),
    code: e.code,
    hint: e.hint,
    ...(e.details ? { details: e.details } : {}),
  }
}

export function onError(logger: Logger) {
  return (err: Error, c: Context): Response => {
    const e = toHangarError(err)
    // A request whose client went away fails by design (its exec killed, its pull stopped): nothing to report.
    if (e.status >= 500 && !c.req.raw.signal.aborted) logger.error({ err: err.message, stack: err.stack, path: c.req.path }, 'request failed')
    return c.json(errorBody(e), e.status as 500)
  }
}
