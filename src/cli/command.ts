/** The shape of a CLI verb: usage, a one-line summary, its flags (node:util parseArgs), and run. */
import type { ParseArgsConfig } from 'node:util'
import type { Hangar } from '../sdk/index.ts'
import type { Output } from './output.ts'

export interface Invocation {
  positionals: string[]
  /** Everything after a bare `--`. */
  rest: string[]
  flags: Record<string, string | boolean | string[] | undefined>
  out: Output
  client: () => Hangar
}

export interface Command {
  usage: string
  summary: string
  flags?: NonNullable<ParseArgsConfig['options']>
  run(inv: Invocation): Promise<number | void>
}

/** Flags every command takes. */
export const commonFlags = {
  json: { type: 'boolean' as const },
  help: { type: 'boolean' as const, short: 'h' },
}

export const appFlag = { app: { type: 'string' as const, short: 'a' } }
