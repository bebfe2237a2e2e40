/**
 * Request handlers that answer bad params the way the spec says: -32602 (Invalid
 * params). The SDK parses a request with the method's schema before calling its
 * handler, and a failed parse leaves as -32603 (Internal error); so the handler is
 * registered under a schema that accepts any params, and the params are checked here.
 *   handle(server, SetLevelRequestSchema, async ({ level }) => { … ; return {} })
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import { ErrorCode, type ServerNotification, type ServerRequest, type ServerResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>

/**
 * A JSON-RPC error as it goes out: the SDK answers a thrown error with its code, message
 * and data. (McpError would put "MCP error <code>: " into the message, and the client,
 * which adds that itself, would show it twice.)
 */
export class RpcError extends Error {
  readonly code: number
  readonly data: unknown

  constructor(code: number, message: string, data?: unknown) {
    super(message)
    this.name = 'RpcError'
    this.code = code
    this.data = data
  }
}

export const invalidParams = (message: string, data?: unknown): RpcError => new RpcError(ErrorCode.InvalidParams, message, data)

/** The shape of the SDK's request schemas: a method literal and the params. */
type RequestSchema = z.ZodObject<{ method: z.ZodLiteral<string>; params: z.ZodType }>

export type ParamsOf<S extends RequestSchema> = z.output<S['shape']['params']>

export function handle<S extends RequestSchema>(server: Server, schema: S, fn: (params: ParamsOf<S>, extra: Extra) => Promise<ServerResult>): void {
  const method = schema.shape.method.value
  server.setRequestHandler(z.object({ method: z.literal(method), params: z.unknown().optional() }), async (req, extra) => {
    const parsed = schema.shape.params.safeParse(req.params)
    if (!parsed.success) {
      throw invalidParams(`invalid params for ${method}: ${z.prettifyError(parsed.error).replace(/\n+/g, '; ')}`)
    }
    return fn(parsed.data as ParamsOf<S>, extra)
  })
}
