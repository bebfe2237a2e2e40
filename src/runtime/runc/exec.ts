/**
 * Runs a command inside a running machine with `runc exec` in the foreground:
 * it inherits the machine's user, cwd, env and confinement from config.json.
 * Output is captured up to maxBytes per stream (the rest is drained and
 * dropped, marked truncated). On timeout, or when the caller's signal aborts, we
 * SIGKILL the exec'd command's process group — its host pid comes from --pid-file,
 * and runc makes it a session leader, so a shell's children go with it — because
 * killing runc exec alone would leave the command running inside the machine.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Readable } from 'node:stream'
import { HangarError } from '../../errors.ts'
import type { ExecOptions, ExecResult } from '../types.ts'
import { signalName } from './exits.ts'

export interface ExecContext {
  runcPath: string
  runcRoot: string
  /** Where the per-exec pid file goes (the machine dir). */
  dir: string
}

function capture(stream: Readable, maxBytes: number): { text: () => string; truncated: () => boolean } {
  const chunks: Buffer[] = []
  let size = 0
  let cut = false
  stream.on('data', (b: Buffer) => {
    if (size >= maxBytes) {
      cut = true
      return
    }
    const room = maxBytes - size
    if (b.length > room) cut = true
    const part = b.length > room ? b.subarray(0, room) : b
    chunks.push(part)
    size += part.length
  })
  return { text: () => Buffer.concat(chunks).toString('utf8'), truncated: () => cut }
}

/** SIGKILL to the process group `pid` leads, or to `pid` alone should it lead none. */
function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL')
      return
    } catch {
      // Not a group leader, or already gone.
    }
  }
}

/** Runs opts.cmd in machine id; never throws for a non-zero exit, only for failing to run at all. */
export async function runcExec(id: string, opts: ExecOptions, ctx: ExecContext): Promise<ExecResult> {
  if (opts.cmd.length === 0) throw new HangarError('invalid_argument', 'exec needs a command')
  opts.signal?.throwIfAborted()
  const pidFile = join(ctx.dir, `exec-${randomBytes(4).toString('hex')}.pid`)
  const args = ['--root', ctx.runcRoot, 'exec', '--pid-file', pidFile]
  for (const e of opts.env ?? []) args.push('--env', e)
  args.push(id, ...opts.cmd)

  const child = spawn(ctx.runcPath, args, { stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
  const out = capture(child.stdout as Readable, opts.maxBytes)
  const err = capture(child.stderr as Readable, opts.maxBytes)
  if (child.stdin) {
    child.stdin.on('error', () => {}) // the command may exit without reading its stdin
    child.stdin.end(opts.stdin)
  }

  let timedOut = false
  let closed = false
  const kill = (): void => {
    void (async () => {
      // runc writes the pid file (atomically) once the command runs: a cancel that comes
      // sooner waits for it, since killing runc alone then would leave the command to run.
      for (let tries = 0; !closed && tries < 100; tries++) {
        const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim())
        if (pid > 0) {
          killGroup(pid)
          break
        }
        await sleep(20)
      }
      child.kill('SIGKILL')
    })()
  }
  const timer = setTimeout(() => {
    timedOut = true
    kill()
  }, opts.timeoutMs)
  opts.signal?.addEventListener('abort', kill, { once: true })

  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', (e) => reject(new HangarError('runtime_error', `runc exec: ${e.message}`, { cause: e })))
      child.on('close', (c, s) => {
        closed = true
        resolve([c, s])
      })
    })
    // runc exec reports a process killed by signal N as 128+N, like a shell.
    const exitCode = code ?? 128 + 9
    const exitSignal = signal ?? (exitCode > 128 ? signalName(exitCode - 128) : null)
    return {
      exitCode,
      exitSignal,
      stdout: out.text(),
      stderr: err.text(),
      stdoutTruncated: out.truncated(),
      stderrTruncated: err.truncated(),
      timedOut,
    }
  } finally {
    clearTimeout(timer)
    opts.signal?.removeEventListener('abort', kill)
    await rm(pidFile, { force: true })
  }
}
