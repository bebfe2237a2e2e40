/**
 * Over Streamable HTTP each request gets its own SSE response, which the SDK ends
 * once the request is answered. A cancelled request is never answered (the spec:
 * no response for it), so its stream would stay open, a connection held, until
 * the session ends. This ends it as soon as the cancellation arrives.
 *   await server.connect(transport); endCancelledStreams(transport)
 */
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { CancelledNotificationSchema } from '@modelcontextprotocol/sdk/types.js'

/** Call after connect(): wraps the transport's delivery, which the server has just set. */
export function endCancelledStreams(transport: WebStandardStreamableHTTPServerTransport): void {
  const deliver = transport.onmessage
  transport.onmessage = (message, extra) => {
    deliver?.(message, extra)
    const cancel = CancelledNotificationSchema.safeParse(message)
    const id = cancel.success ? cancel.data.params.requestId : undefined
    // After the server has aborted the handler (it runs on this delivery), so nothing more is written.
    // An unknown or finished request has no stream left: then this does nothing.
    if (id !== undefined) setImmediate(() => transport.closeSSEStream(id))
  }
}
