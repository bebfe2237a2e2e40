/**
 * The logging utility: a client picks a level with logging/setLevel, and tools
 * send notifications/message at that level or more severe, each on the stream of
 * the call that produced it. One SessionLog per server, and the daemon makes one
 * server per /mcp session, so every session has its own level.
 *   const session = new SessionLog(); handleSetLevel(server, session)
 *   const log = callLog(extra, session, 'hangar.images', () => running); await log.send('info', 'downloading')
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { type LoggingLevel, SetLevelRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { type Extra, handle } from './requests.ts'

export type { LoggingLevel }

/** RFC 5424 severities, least severe first. */
export const levels: readonly LoggingLevel[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']

/** Until a client sets a level: progress and outcomes, not the per-tick detail. */
export const defaultLevel: LoggingLevel = 'info'

/** Messages one call may send; a stuck loop must not flood a client (the spec asks servers to rate-limit). */
export const maxMessagesPerCall = 100

export class SessionLog {
  #min: LoggingLevel = defaultLevel

  get level(): LoggingLevel {
    return this.#min
  }

  set(level: LoggingLevel): void {
    this.#min = level
  }

  admits(level: LoggingLevel): boolean {
    return levels.indexOf(level) >= levels.indexOf(this.#min)
  }
}

/** logging/setLevel answers {}; a level outside RFC 5424's eight is -32602 (through handle). */
export function handleSetLevel(server: Server, session: SessionLog): void {
  handle(server, SetLevelRequestSchema, async ({ level }) => {
    session.set(level)
    return {}
  })
}

export interface CallLog {
  /** Whether a message at `level` would be sent: lets a tool skip work that only feeds the log. */
  admits(level: LoggingLevel): boolean
  /** notifications/message under this call's logger name; dropped below the session's level, after the call, or past the cap. Never throws. */
  send(level: LoggingLevel, message: string, fields?: Record<string, unknown>): Promise<void>
}

/**
 * A logger for one request. `live` turns false once the call is answered or cancelled:
 * nothing is sent for a request that is over.
 */
export function callLog(extra: Extra, session: SessionLog, logger: string, live: () => boolean): CallLog {
  let sent = 0
  const notify = (level: LoggingLevel, data: Record<string, unknown>): Promise<void> =>
    // relatedRequestId (set by sendNotification) puts it on the call's own SSE stream, as the spec asks.
    extra.sendNotification({ method: 'notifications/message', params: { level, logger, data } }).catch(() => {})
  return {
    admits: (level) => session.admits(level),
    async send(level, message, fields = {}) {
      if (!session.admits(level) || !live() || sent > maxMessagesPerCall) return
      if (++sent > maxMessagesPerCall) {
        if (session.admits('notice')) await notify('notice', { message: `log messages of this call stop here (at most ${maxMessagesPerCall} per call)` })
        return
      }
      return notify(level, { message, ...fields })
    },
  }
}
