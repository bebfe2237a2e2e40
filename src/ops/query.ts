/**
 * Values that arrive as query strings from HTTP and as typed values from the SDK and MCP: each
 * schema takes both, so one declaration serves every caller.
 */
import { z } from 'zod'

/** true, or "true"/"1"/"" (a bare `?force`); false, or "false"/"0". */
export const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', ''])]).transform((v) => v === true || v === 'true' || v === '1' || v === '').optional()

/** A whole number, or its digits ("30"; "30s" for seconds, as Fly's clients send). */
export const int = z.union([z.number(), z.string().regex(/^\d+s?$/, 'a whole number').transform((s) => Number(s.replace(/s$/, '')))]).pipe(z.number().int())

/** A list: an array, a repeated parameter, or comma-separated ("started,stopped"). */
export const csv = z.union([z.string(), z.array(z.string())]).transform((v) => [v].flat().flatMap((s) => s.split(',')).filter(Boolean))
