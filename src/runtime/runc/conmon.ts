/**
 * Launches a machine's process under conmon. conmon runs `runc create`, then
 * stays as the container's parent: it holds stdio, writes timestamped
 * k8s-file logs, and writes the exit code (and an `oom` marker) to files when
 * the process ends — all without hangard, which may be restarted or killed at
 * any moment. We spawn it detached (own session, stdio on /dev/null) so no
 * signal or closed pipe of the daemon reaches it; conmon then daemonizes.
 *
 * The only link back is the sync pipe (fd 3): conmon writes `{"data": <pid>}`
 * once runc create has finished, or a negative value and a message on failure.
 * We read that one message and let go of the pipe.
 */
import { spawn } from 'node:child_process'
import { HangarError } from '../../errors.ts'
import type { MachinePaths } from './layout.ts'

const LOG_SIZE_MAX = 64 * 1024 * 1024

export interface ConmonOptions {
  conmonPath: string
  runcPath: string
  runcRoot: string
  exitsDir: string
  socketDir: string
}

/** Starts conmon + `runc create` for the bundle; resolves with the container's host pid. */
/** `run.bundle`: the bundle directory (default the machine dir; start-secrets.ts's tmpfs when the run has secrets). */
export function conmonCreate(id: string, paths: MachinePaths, opts: ConmonOptions, run: { terminal?: boolean; bundle?: string } = {}): Promise<number> {
  const args = [
    // On a terminal (systemd's console) conmon holds the pty's master and logs what the machine writes.
    ...(run.terminal ? ['--terminal'] : []),
    '--api-version', '1',
    '-c', id, '-u', id, '-n', id,
    '-r', opts.runcPath,
    '-b', run.bundle ?? paths.dir,
    '-p', paths.pidFile,
    '-P', paths.conmonPidFile,
    '-l', `k8s-file:${paths.log}`,
    '--exit-dir', opts.exitsDir,
    '--persist-dir', paths.persist,
    '--socket-dir-path', opts.socketDir,
    '--runtime-arg', '--root', '--runtime-arg', opts.runcRoot,
    // conmon truncates the log at this size; logs() follows across the truncation.
    '--log-size-max', String(LOG_SIZE_MAX),
    '--log-level', 'error',
    // conmon would otherwise sync() the log at exit, delaying the exit file by up to seconds.
    '--no-sync-log',
  ]
  return new Promise((resolve, reject) => {
    // cwd = persist dir: older conmons write the cgroup v1 `oom` marker into their cwd.
    const child = spawn(opts.conmonPath, args, {
      cwd: paths.persist,
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3' },
    })
    const sync = child.stdio[3]
    if (!sync) return reject(new HangarError('runtime_error', 'conmon: no sync pipe'))
    let text = ''
    let done = false
    const finish = (err: Error | null, pid?: number): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      sync.destroy()
      child.unref()
      if (err) reject(err)
      else resolve(pid as number)
    }
    child.on('error', (e) => finish(new HangarError('runtime_error', `conmon: ${e.message}`, { cause: e })))
    // A runc create that hangs must not hold the machine's lock forever.
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      finish(new HangarError('runtime_error', 'conmon/runc create did not report within 60 s'))
    }, 60_000)
    timer.unref()
    child.once('close', () => clearTimeout(timer))
    sync.on('data', (b: Buffer) => {
      text += b.toString()
      const line = text.split('\n').find((l) => l.trim().startsWith('{') && l.trim().endsWith('}'))
      if (!line) return
      let msg: { data: number; message?: string }
      try {
        msg = JSON.parse(line)
      } catch {
        return // not a whole message yet; keep reading
      }
      if (msg.data > 0) finish(null, msg.data)
      else finish(new HangarError('runtime_error', `runc create failed: ${(msg.message ?? '').trim() || `status ${msg.data}`}`))
    })
    sync.on('close', () => finish(new HangarError('runtime_error', `conmon exited before runc create finished${text ? `: ${text.trim()}` : ''}`)))
  })
}
