/**
 * A tool as data (name, description, zod in and out, annotations, run) and the
 * one function that calls any of them: validate, run, check the output, cap the
 * text, turn every failure into an error result.
 *   export const tools = [defineTool({ name: 'app_list', …, run: async (args, { backend }) => … })]
 */
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import type { z } from 'zod'
import { isHangarError } from '../../errors.ts'
import type { Backend } from './backend.ts'
import { budgets, clipEnd } from './budget.ts'
import { errorResult, invalidArguments } from './errors.ts'

export interface ToolContext {
  backend: Backend
  /** Aborts when the client cancels the call or goes away. */
  signal: AbortSignal
  /** True when the client sent a progressToken, so progress() reaches it. */
  wantsProgress: boolean
  /** notifications/progress for this call; a no-op without a progressToken, never throws. */
  progress(progress: number, total?: number, message?: string): Promise<void>
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
  /** True only where Hangar reaches outside itself (downloading Debian packages); the rest touch only this Hangar. */
  openWorldHint: boolean
}

export interface ToolDef<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  name: string
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

/** Read-only tools share one annotation set; so do the others, per kind. */
export const readOnly: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }
export const creates: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false }
export const changes: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false }
export const destroys: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false }

export function toolContext(backend: Backend, extra: RequestHandlerExtra<ServerRequest, ServerNotification>): ToolContext {
  const token = extra._meta?.progressToken
  return {
    backend,
    signal: extra.signal,
    wantsProgress: token !== undefined,
    async progress(progress, total, message) {
      if (token === undefined || extra.signal.aborted) return
      const params = { progressToken: token, progress, ...(total !== undefined ? { total } : {}), ...(message ? { message } : {}) }
      // A client that went away must not fail the call (or the server) over a progress note.
      await extra.sendNotification({ method: 'notifications/progress', params }).catch(() => {})
    },
  }
}

export async function callTool(tool: ToolDef, args: unknown, ctx: ToolContext, logger?: Logger): Promise<CallToolResult> {
  const parsed = tool.input.safeParse(args ?? {})
  if (!parsed.success) return invalidArguments(tool.name, parsed.error.issues)
  try {
    const out = await tool.run(parsed.data, ctx)
    // A result that breaks the promised schema is a Hangar bug: reported as one, never sent half-valid.
    const structured = tool.output.parse(out.structured) as Record<string, unknown>
    const text = clipEnd(out.text, budgets.textBytes).text
    return { content: [{ type: 'text', text }], structuredContent: structured }
  } catch (e) {
    if (!isHangarError(e) || e.status >= 500) logger?.error({ tool: tool.name, err: String(e), stack: (e as Error)?.stack }, 'mcp tool failed')
    return errorResult(e)
  }
}
