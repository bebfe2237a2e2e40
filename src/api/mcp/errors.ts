/**
 * Errors as tool results a robot can act on: `<code>: <message>. Next: <step>`,
 * where the next step names an MCP tool rather than a REST route. Never a stack.
 *   return errorResult(e)   // { isError: true, content: [...], _meta: { 'hangar/error': { code, message, hint } } }
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { z } from 'zod'
import { HangarError, isHangarError, toHangarError } from '../../errors.ts'

export interface ToolError {
  code: string
  message: string
  hint: string
}

const transient = ['starting', 'stopping', 'suspending', 'replacing', 'destroying']

/** The platform's hints speak REST; these speak tools. Undefined keeps the platform's hint. */
function toolHint(e: HangarError): string | undefined {
  const state = typeof e.details?.state === 'string' ? e.details.state : undefined
  switch (e.code) {
    case 'invalid_state':
      if (state && transient.includes(state)) return `call machine_wait with state "settled", then retry`
      if (state === 'started') return 'call machine_stop first, or machine_destroy with force: true'
      if (state === 'stopped' || state === 'created' || state === 'suspended' || state === 'failed') {
        return 'call machine_start, then retry (machine_status shows why it stopped)'
      }
      if (state === 'destroyed') return 'it is gone; call machine_run for a new machine'
      return undefined
    case 'app_not_found':
      return 'call app_list to see apps, or app_create (machine_run creates a missing app itself)'
    case 'machine_not_found':
      return 'call machine_list with the app to see its machines'
    case 'image_not_found':
      // A reference with a registry host was looked up there: the fix is the name, not an import.
      if (/ answered 404 /.test(e.message)) return 'check the registry host, repository and tag in the image reference (image_list shows what is already local)'
      return 'call image_list to see local images, or image_import with the path of an archive'
    case 'app_not_empty':
      return 'call app_destroy with force: true, or machine_destroy each machine first'
    case 'wait_timeout':
      return 'call machine_wait again, or machine_status to see the recent events'
    case 'name_taken':
      return 'choose another name, or leave name out to get a generated one'
    default:
      return undefined
  }
}

/** Fly prefixes messages with the error class ("failed_precondition: …"); the code already says it. */
const unprefixed = (message: string): string => message.replace(/^[a-z_]+: /, '')

export function toToolError(e: unknown): ToolError {
  const he = toHangarError(e)
  // An unexpected failure may carry internals in its message; a robot only needs to know it was ours.
  const message = he.code === 'internal' && !isHangarError(e) ? 'unexpected failure inside Hangar' : unprefixed(he.message)
  return { code: he.code, message, hint: toolHint(he) ?? he.hint }
}

/**
 * The structured error rides in `_meta`, not `structuredContent`: clients (the
 * official SDK's among them) check structuredContent against the tool's output
 * schema even on errors, and an error is not the tool's output.
 */
export function errorResult(e: unknown): CallToolResult {
  const err = toToolError(e)
  const text = `${err.code}: ${err.message.replace(/\.$/, '')}. Next: ${err.hint}`
  return { isError: true, content: [{ type: 'text', text }], _meta: { 'hangar/error': err } }
}

/** Tool arguments that do not match the schema: one invalid_argument naming every bad field. */
export function invalidArguments(tool: string, issues: z.core.$ZodIssue[]): CallToolResult {
  const fields = issues.map((i) => `${i.path.length ? i.path.join('.') : 'arguments'}: ${i.message}`)
  return errorResult(
    new HangarError('invalid_argument', `invalid arguments for ${tool}: ${fields.join('; ')}`, {
      hint: `fix the named field${fields.length > 1 ? 's' : ''} and call ${tool} again (tools/list has its input schema)`,
    }),
  )
}
