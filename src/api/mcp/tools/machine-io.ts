/** Looking inside a machine: run a command in it, read its output log. Both bounded by budget.ts. */
import { machineExec } from '../../../ops/index.ts'
import { z } from 'zod'
import { budgets, clipMiddle, pageLines } from '../budget.ts'
import { heartbeat } from '../heartbeat.ts'
import { defineTool, opTool, readOnly } from '../tool.ts'
import { machineRef } from './fields.ts'

/** The daemon may return this much more than the budget so the marker can count what was left out. */
const fetchFactor = 16
const maxFetch = 1 << 20

/** Lines to ask the daemon for when reading forward from a cursor (its limit). */
const sinceWindow = 10_000

const logLine = z.object({ timestamp: z.string(), stream: z.enum(['stdout', 'stderr']), message: z.string() })

export const machineIoTools = [
  opTool(machineExec, {
    name: 'machine_exec',
    title: 'Run a command in a machine',
    description:
      'Run a command inside a running machine and get its exit code, stdout and stderr: to inspect files, install packages, edit config, run tests. An argv array runs as is; a string runs under /bin/sh -c (pipes, redirects). Output is capped per stream; redirect big output to a file and read parts of it.',
    input: z.object({
      ...machineRef,
      command: z.union([z.array(z.string()).min(1), z.string().min(1)]).meta({
        description: 'argv array, or a shell string for /bin/sh -c.',
        examples: [['ls', '-la', '/www'], 'echo v2 > /www/index.html && cat /www/index.html'],
      }),
      stdin: z.string().max(1 << 20).optional().meta({ description: 'Text fed to the command on stdin.' }),
      timeout_s: z.number().int().min(1).max(600).default(30).meta({ description: 'Kill the command after this many seconds (default 30).' }),
      max_output_bytes: z.number().int().min(256).max(maxFetch).default(budgets.execBytes).meta({ description: `Bytes of stdout and of stderr to return, each (default ${budgets.execBytes}). Beyond it the middle is cut and counted.` }),
    }),
    output: z.object({
      exit_code: z.number().int(),
      exit_signal: z.string().nullable(),
      timed_out: z.boolean(),
      stdout: z.string(),
      stderr: z.string(),
      stdout_truncated: z.boolean(),
      stderr_truncated: z.boolean(),
      stdout_omitted_bytes: z.number().int().meta({ description: 'Bytes cut from the middle of stdout (a lower bound when the daemon capped it too).' }),
      stderr_omitted_bytes: z.number().int(),
    }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    async run({ app, id, command, stdin, timeout_s, max_output_bytes }, ctx) {
      const { backend, log } = ctx
      const fetchBytes = Math.min(max_output_bytes * fetchFactor, maxFetch)
      const began = Date.now()
      const seconds = (): number => Math.round((Date.now() - began) / 100) / 10
      // Not the command itself: it may carry a secret, and clients may keep their logs (the spec forbids secrets in them).
      await log.send('debug', `running a command in machine ${id}, timeout ${timeout_s} s`, { app, id, timeout_s })
      // The exec returns only at its end: a long one shows it is alive by the time it has taken.
      const stop = heartbeat(ctx, async () => ({ progress: seconds(), total: timeout_s, message: `still running in machine ${id} after ${seconds()} s`, fields: { app, id } }))
      // A cancelled call kills the command in the machine (the signal reaches runc exec).
      const r = await backend
        .run(machineExec, { app, id }, { ...(typeof command === 'string' ? { cmd: command } : { command }), ...(stdin !== undefined ? { stdin } : {}), timeout: timeout_s, max_output_bytes: fetchBytes }, { signal: ctx.signal })
        .finally(stop)
      if (r.timed_out) await log.send('warning', `the command in machine ${id} was killed at its ${timeout_s} s timeout`, { app, id })
      else await log.send('debug', `exit_code ${r.exit_code} after ${seconds()} s in machine ${id}`, { app, id, exit_code: r.exit_code })
      const clip = (text: string, capped: boolean) =>
        clipMiddle(text, max_output_bytes, (n) => {
          const more = Math.min(maxFetch, Math.max(max_output_bytes * 4, n + max_output_bytes))
          return `[truncated: ${capped ? 'at least ' : ''}${n} more bytes; call machine_exec with max_output_bytes=${more} or redirect to a file and read parts of it]`
        })
      const out = clip(r.stdout, r.stdout_truncated)
      const err = clip(r.stderr, r.stderr_truncated)
      const structured = {
        exit_code: r.exit_code, exit_signal: r.exit_signal, timed_out: r.timed_out, stdout: out.text, stderr: err.text,
        stdout_truncated: r.stdout_truncated || out.omitted > 0, stderr_truncated: r.stderr_truncated || err.omitted > 0,
        stdout_omitted_bytes: out.omitted, stderr_omitted_bytes: err.omitted,
      }
      const head = r.timed_out ? `timed out after ${timeout_s}s (exit_code ${r.exit_code})` : `exit_code ${r.exit_code}${r.exit_signal ? ` (${r.exit_signal})` : ''}`
      const parts = [head, ...(out.text ? ['--- stdout ---', out.text.replace(/\n$/, '')] : []), ...(err.text ? ['--- stderr ---', err.text.replace(/\n$/, '')] : [])]
      return { structured, text: parts.join('\n') }
    },
  }),

  defineTool({
    name: 'machine_logs',
    action: 'read',
    title: "Read a machine's log",
    description:
      "Read what a machine's main process wrote to stdout and stderr. Without since: the newest lines. The result has a cursor: pass it back as since to get only lines written after it (follow a log by calling again).",
    input: z.object({
      ...machineRef,
      since: z.string().min(1).optional().meta({ description: 'Cursor from a previous machine_logs call: only newer lines are returned, oldest first.' }),
      tail: z.number().int().min(1).max(1000).default(budgets.logLines).meta({ description: `Without since: how many of the newest lines (default ${budgets.logLines}).` }),
      max_lines: z.number().int().min(1).max(1000).default(budgets.logLines).meta({ description: `Most lines per call (default ${budgets.logLines}).` }),
      max_bytes: z.number().int().min(256).max(1 << 20).default(budgets.logBytes).meta({ description: `Most bytes of log text per call (default ${budgets.logBytes}).` }),
    }),
    output: z.object({
      lines: z.array(logLine),
      cursor: z.string().nullable().meta({ description: 'Pass as since for newer lines; null when the log is empty.' }),
      more: z.boolean().meta({ description: 'More lines after the cursor exist already: call again with since=cursor.' }),
    }),
    annotations: readOnly,
    async run({ app, id, since, tail, max_lines, max_bytes }, { backend }) {
      const all = await backend.machines.logs(app, id, since ? sinceWindow : tail)
      const page = pageLines(all, { ...(since ? { since } : {}), maxLines: since ? max_lines : Math.min(tail, max_lines), maxBytes: max_bytes })
      const body = page.lines.map((l) => (l.stream === 'stderr' ? `[stderr] ${l.message}` : l.message))
      const footer = page.cursor
        ? page.more
          ? `[more lines follow: call machine_logs with since="${page.cursor}"]`
          : `[cursor: "${page.cursor}"; call machine_logs with since="${page.cursor}" for newer lines]`
        : '[the log is empty]'
      const empty = since && page.lines.length === 0 ? ['no new lines'] : []
      return { structured: page, text: [...empty, ...body, footer].join('\n') }
    },
  }),
]
