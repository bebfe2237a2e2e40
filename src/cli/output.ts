/**
 * How the CLI speaks: --json prints exactly one JSON document on stdout (errors
 * too, as {"error": {code, message, hint}}); otherwise short human lines, and
 * errors on stderr with the hint that says what to do next.
 */
import { isHangarError, toHangarError } from '../errors.ts'

export class Output {
  readonly json: boolean

  constructor(json: boolean) {
    this.json = json
  }

  /** Prints `data` as JSON, or `human(data)` for people. */
  result<T>(data: T, human: (d: T) => string | string[]): void {
    if (this.json) process.stdout.write(JSON.stringify(data, null, 2) + '\n')
    else {
      const text = human(data)
      process.stdout.write((Array.isArray(text) ? text.join('\n') : text) + '\n')
    }
  }

  /** A progress note for people; silent under --json. */
  note(msg: string): void {
    if (!this.json) process.stderr.write(msg + '\n')
  }

  error(e: unknown): number {
    const err = toHangarError(e)
    if (this.json) process.stdout.write(JSON.stringify({ error: err.toJSON() }, null, 2) + '\n')
    else {
      process.stderr.write(`error: ${err.message}\n`)
      if (isHangarError(e) || err.code !== 'internal') process.stderr.write(`hint: ${err.hint}\n`)
    }
    return err.status === 400 ? 2 : 1
  }
}

/** Columns padded to their widest cell. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '))
}
