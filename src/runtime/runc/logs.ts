/**
 * Reads conmon's k8s-file log: one record per line,
 *   2026-01-02T03:04:05.123456789+00:00 stdout F hello
 * where P marks a partial record (a line longer than conmon's buffer, or
 * output without a trailing newline yet) continued by the next records up to
 * an F. Supports tail and follow (fs.watch on the file), stops on abort.
 */
import { watch } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import type { LogLine, LogOptions } from '../types.ts'

/** Joins P…F records into lines; keeps the unfinished partial between calls. */
class Parser {
  #partial: LogLine | null = null

  push(record: string): LogLine | null {
    // A machine on a terminal (systemd's console) ends its lines with CR (the tty adds one more).
    const m = /^(\S+) (stdout|stderr) ([PF]) ?(.*)$/.exec(record.replace(/\r+$/, ''))
    if (!m) return null
    const [, timestamp = '', stream, tag, message = ''] = m
    const line: LogLine = this.#partial
      ? { ...this.#partial, message: this.#partial.message + message }
      : { timestamp, stream: stream as LogLine['stream'], message }
    if (tag === 'P') {
      this.#partial = line
      return null
    }
    this.#partial = null
    return line
  }
}

async function readFrom(path: string, offset: number): Promise<{ text: string; size: number }> {
  const fh = await open(path, 'r')
  try {
    const { size } = await fh.stat()
    if (size <= offset) return { text: '', size }
    const buf = Buffer.alloc(size - offset)
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset)
    return { text: buf.subarray(0, bytesRead).toString('utf8'), size: offset + bytesRead }
  } finally {
    await fh.close()
  }
}

/**
 * The last `tail` lines without reading the whole file: windows from the end,
 * doubling until they hold enough whole records (the window's first record may
 * be cut, so it is dropped unless the window starts the file).
 */
async function readTail(path: string, tail: number): Promise<{ lines: LogLine[]; carry: string; size: number }> {
  const { size } = await stat(path)
  for (let window = 64 * 1024; ; window *= 2) {
    const start = Math.max(0, size - window)
    const { text, size: end } = await readFrom(path, start)
    const records = text.split('\n')
    const carry = records.pop() ?? ''
    if (start > 0) records.shift()
    if (records.length > tail || start === 0) {
      const parser = new Parser()
      const lines = records.map((r) => parser.push(r)).filter((l): l is LogLine => l !== null)
      return { lines: lines.slice(Math.max(0, lines.length - tail)), carry, size: end }
    }
  }
}

/** Resolves on the next change of path (or after a poll interval, or abort). */
function changed(path: string, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    let w: ReturnType<typeof watch> | null = null
    const done = (): void => {
      w?.close()
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    try {
      w = watch(path, done)
    } catch {
      // The file does not exist yet: the poll timer covers it.
    }
    const timer = setTimeout(done, 500)
    signal?.addEventListener('abort', done, { once: true })
  })
}

/**
 * Yields the log of one machine.
 *
 *   for await (const l of readLogs(path, { tail: 10 })) console.log(l.message)
 */
export async function* readLogs(path: string, opts: LogOptions): AsyncGenerator<LogLine> {
  const parser = new Parser()
  let offset = 0
  let carry = ''
  const exists = await stat(path).then(() => true, () => false)
  if (exists && opts.tail !== undefined) {
    const last = await readTail(path, opts.tail)
    offset = last.size
    carry = last.carry
    yield* last.lines
  } else if (exists) {
    const first = await readFrom(path, 0)
    offset = first.size
    const records = first.text.split('\n')
    carry = records.pop() ?? ''
    const lines = records.map((r) => parser.push(r)).filter((l): l is LogLine => l !== null)
    yield* lines
  }
  while (opts.follow && !opts.signal?.aborted) {
    await changed(path, opts.signal)
    if (opts.signal?.aborted) return
    let next: { text: string; size: number }
    try {
      if ((await stat(path)).size < offset) offset = 0 // rotated or truncated
      next = await readFrom(path, offset)
    } catch {
      continue
    }
    offset = next.size
    const records = (carry + next.text).split('\n')
    carry = records.pop() ?? ''
    for (const r of records) {
      const line = parser.push(r)
      if (line) yield line
    }
  }
}
