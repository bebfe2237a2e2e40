/** The CLI as a user runs it: a child process against a test daemon, its exit code and output kept. */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { cliMain, nodeBin } from './daemon.ts'

const run = promisify(execFile)

export async function hangar(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(nodeBin, [cliMain, ...args], { env, timeout: 60_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string }
    return { code: x.code, stdout: x.stdout, stderr: x.stderr }
  }
}
