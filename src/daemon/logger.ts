/**
 * The daemon's logger: JSON lines for machines (a pipe, a file, journald), readable
 * lines for a person at a terminal. `auto` picks by whether stdout is a TTY.
 *
 *   const logger = createLogger({ level: 'info', format: 'auto' })
 */
import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'

export type LogFormat = 'auto' | 'json' | 'pretty'

export interface LoggerOptions {
  level: string
  format: LogFormat
  /** Where lines go; default stdout. Its isTTY decides `auto`. */
  out?: NodeJS.WritableStream & { isTTY?: boolean; fd?: number }
}

export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.out ?? process.stdout
  const base = { level: opts.level, base: { svc: 'hangard' } }
  const readable = opts.format === 'pretty' || (opts.format === 'auto' && out.isTTY === true)
  if (!readable) return opts.out ? pino(base, out) : pino(base)
  // In-process and synchronous (no worker thread): a line is on the terminal before the next one is made.
  return pino(base, pretty({
    destination: out,
    sync: true,
    colorize: out.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    // pid/hostname are noise on one host; svc is always hangard.
    ignore: 'pid,hostname,svc',
    singleLine: true,
  }))
}
