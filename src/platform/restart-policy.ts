/**
 * Whether an exited machine comes back. Fly's default is on-failure with 10
 * retries; `always` restarts forever. Restarts back off exponentially so a
 * crash loop cannot eat the host.
 */
import type { MachineConfig } from '../ops/schemas.ts'

export const defaultMaxRetries = 10

export interface RestartDecision {
  restart: boolean
  delayMs: number
}

export function decideRestart(policy: MachineConfig['restart'], exitCode: number, restartCount: number): RestartDecision {
  const kind = policy?.policy ?? 'on-failure'
  const max = policy?.max_retries ?? defaultMaxRetries
  const delayMs = Math.min(100 * 2 ** restartCount, 30_000)
  if (kind === 'always') return { restart: true, delayMs }
  if ((kind === 'on-failure' || kind === 'spot-price') && exitCode !== 0 && restartCount < max) return { restart: true, delayMs }
  return { restart: false, delayMs: 0 }
}
