/** Parses input with a zod schema; a mismatch becomes one invalid_argument naming every bad field. */
import type { z } from 'zod'
import { HangarError } from '../errors.ts'

export function parse<S extends z.ZodType>(schema: S, input: unknown, what = 'request'): z.output<S> {
  const r = schema.safeParse(input)
  if (r.success) return r.data
  const problems = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : what}: ${i.message}`)
  throw new HangarError('invalid_argument', `invalid ${what}: ${problems.join('; ')}`, {
    details: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
  })
}
