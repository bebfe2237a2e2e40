/**
 * A tool as data (name, description, zod in and out, annotations, run) and the
 * one function that calls any of them: validate, run, check the output, cap the
 * text, turn every failure into an error result.
 *   export const tools = [defineTool({ name: 'app_list', …, run: async (args, { backend }) => … })]
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import type { z } from 'zod'
import { isHangarError } from '../../errors.ts'
import type { Action } from '../../auth/index.ts'
import type { OpSpec } from '../../ops/index.ts'
import type { Backend } from './backend.ts'
import { budgets, clipEnd } from './budget.ts'
import { errorResult, invalidArguments } from './errors.ts'
import { callLog, type CallLog, type SessionLog } from './logging.ts'
import type { Extra } from './requests.ts'

export interface ToolContext {
  backend: Backend
  /** Aborts when the client cancels the call (notifications/cancelled) or its session closes; pass it to whatever can stop. */
  signal: AbortSignal
  /** True when the client sent a progressToken, so progress() reaches it. */
  wantsProgress: boolean
  /** notifications/progress for this call; a no-op without a progressToken or once over, never throws. */
  progress(progress: number, total?: number, message?: string): Promise<void>
  /** notifications/message under the tool's logger (hangar.machines, hangar.images…), at the session's level or above. */
  log: CallLog
}

/** What callTool needs besides the tool's view: ending the call stops its notifications. */
export interface CallContext extends ToolContext {
  end(): void
}

export interface ToolOutput<O> {
  structured: O
  /** What a model reads: short, and complete enough to act on without structuredContent. */
  text: string
}

export interface ToolAnnotations {
  readOnlyHint: boolean
  destructiveHint: boolean
  idempotentHint: boolean
  /** True only where Hangar reaches outside itself (the Debian archive, a registry); the rest touch only this Hangar. */
  openWorldHint: boolean
}

export interface ToolDef<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  name: string
  /** The declared operation (src/ops) the tool runs, when it runs one. */
  op?: string
  /** The action a token needs to see and call the tool; what it reaches is checked again per call by the guarded backend. */
  action: Action
  title: string
  /** Says WHEN to use the tool, not only what it does. */
  description: string
  input: I
  output: O
  annotations: ToolAnnotations
  run(args: z.output<I>, ctx: ToolContext): Promise<ToolOutput<z.input<O>>>
}

/** Keeps the input and output types tied together while the table holds plain ToolDefs. */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(def: ToolDef<I, O>): ToolDef {
  return def as unknown as ToolDef
}

/** A tool over a declared operation: the action a token needs is the declaration's. */
export function opTool<I extends z.ZodObject, O extends z.ZodObject>(spec: OpSpec, def: Omit<ToolDef<I, O>, 'action' | 'op'>): ToolDef {
  return defineTool<I, O>({ ...def, action: spec.access.action, op: spec.id })
}

/** Read-only tools share one annotation set; so do the others, per kind. */
export const readOnly: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }
export const creates: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false }
export const changes: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false }
export const destroys: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false }

/** hangar.machines for machine_*, hangar.images for image_*, hangar.apps for app_*: one logger per resource. */
export const loggerName = (tool: string): string => `hangar.${tool.split('_')[0]}s`

export function toolContext(backend: Backend, extra: Extra, session: SessionLog, tool: string): CallContext {
  const token = extra._meta?.progressToken
  let running = true
  let last = Number.NEGATIVE_INFINITY
  // Once answered or cancelled, a call sends nothing more (the spec: progress stops at completion).
  const live = (): boolean => running && !extra.signal.aborted
  return {
    backend,
    signal: extra.signal,
    wantsProgress: token !== undefined,
    log: callLog(extra, session, loggerName(tool), live),
    async progress(progress, total, message) {
      // The spec wants each value above the last; a repeat or a step back is dropped, not sent.
      if (token === undefined || !live() || !(progress > last)) return
      last = progress
      const params = { progressToken: token, progress, ...(total !== undefined ? { total } : {}), ...(message ? { message } : {}) }
      // A client that went away must not fail the call (or the server) over a progress note.
      await extra.sendNotification({ method: 'notifications/progress', params }).catch(() => {})
    },
    end() {
      running = false
    },
  }
}

export async function callTool(tool: ToolDef, args: unknown, ctx: CallContext, logger?: Logger): Promise<CallToolResult> {
  const parsed = tool.input.safeParse(args ?? {})
  if (!parsed.success) return invalidArguments(tool.name, parsed.error.issues)
  try {
    const out = await tool.run(parsed.data, ctx)
    // A result that breaks the promised schema is a Hangar bug: reported as one, never sent half-valid.
    const structured = tool.output.parse(out.structured) as Record<string, unknown>
    const text = clipEnd(out.text, budgets.textBytes).text
    return { content: [{ type: 'text', text }], structuredContent: structured }
  } catch (e) {
    // A cancelled call failing (its request aborted, its command killed) is the cancellation working, not a fault.
    if (!ctx.signal.aborted && (!isHangarError(e) || e.status >= 500)) logger?.error({ tool: tool.name, err: String(e), stack: (e as Error)?.stack }, 'mcp tool failed')
    return errorResult(e)
  } finally {
    ctx.end()
  }
}
