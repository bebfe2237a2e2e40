/**
 * Runs a host tool (runc, ip, mount, a CNI plugin) to completion and turns a
 * failure into a `runtime_error` that names the step, so the platform's event
 * log says which part of the runtime broke, not just "exit status 1".
 */
import { spawn } from 'node:child_process'
import { HangarError } from '../errors.ts'

export interface RunOptions {
  /** Short name of what is being done, e.g. "runc start"; goes into the error message. */
  step: string
  stdin?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Exit codes treated as success besides 0. */
  okCodes?: number[]
  /** Killed (SIGKILL) after this long; default 60 s. A hung tool must not hold a machine's lock forever. */
  timeoutMs?: number
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/**
 * Spawns `cmd args…`, feeds stdin, collects output; rejects with a HangarError
 * on spawn failure or a non-zero exit.
 *
 *   const { stdout } = await run('/usr/sbin/runc', ['state', id], { step: 'runc state' })
 */
export function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout?.on('data', (b: Buffer) => out.push(b))
    child.stderr?.on('data', (b: Buffer) => err.push(b))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, opts.timeoutMs ?? 60_000)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(new HangarError('runtime_error', `${opts.step}: ${e.message}`, { cause: e }))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (timedOut) return reject(new HangarError('runtime_error', `${opts.step} did not finish in ${(opts.timeoutMs ?? 60_000) / 1000} s and was killed`, { details: { step: opts.step } }))
      const result = { code: code ?? 128, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }
      if (code === 0 || (code !== null && opts.okCodes?.includes(code))) return resolve(result)
      const why = signal ? `killed by ${signal}` : `exit ${code}`
      const detail = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ')
      reject(new HangarError('runtime_error', `${opts.step} failed (${why}): ${detail}`, { details: { step: opts.step } }))
    })
    if (child.stdin) child.stdin.end(opts.stdin)
  })
}

/** Like run, but a failure only resolves to false; for best-effort cleanup steps. */
export async function tryRun(cmd: string, args: string[], opts: RunOptions): Promise<boolean> {
  try {
    await run(cmd, args, opts)
    return true
  } catch {
    return false
  }
}
