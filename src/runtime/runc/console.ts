/**
 * An interactive shell in a running machine. `runc exec -t` needs its stdin to
 * be a terminal; Node has no PTY of its own, so util-linux `script` opens one
 * and runs runc inside it, while we talk to `script` over plain pipes. The
 * terminal size is set once, before runc copies it into the machine's PTY;
 * later resizes are not propagated.
 */
import { spawn } from 'node:child_process'
import { HangarError } from '../../errors.ts'
import type { ConsoleOptions, ConsoleSession } from '../types.ts'
import type { ExecContext } from './exec.ts'

const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

export function runcConsole(id: string, opts: ConsoleOptions, ctx: ExecContext): ConsoleSession {
  if (opts.cmd.length === 0) throw new HangarError('invalid_argument', 'console needs a command')
  const cols = Math.min(Math.max(opts.cols, 10), 1000)
  const rows = Math.min(Math.max(opts.rows, 5), 1000)
  const runc = [ctx.runcPath, '--root', ctx.runcRoot, 'exec', '-t', '--env', `TERM=${opts.term ?? 'xterm-256color'}`, id, ...opts.cmd]
  const inner = `stty cols ${cols} rows ${rows}; exec ${runc.map(quote).join(' ')}`
  const child = spawn('script', ['-q', '-f', '-e', '-c', inner, '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, SHELL: '/bin/sh' } })
  child.stdin.on('error', () => {})
  const exited = new Promise<number>((resolve) => child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))))
  return {
    input: child.stdin,
    output: child.stdout,
    exited,
    close: () => void child.kill('SIGHUP'),
  }
}
