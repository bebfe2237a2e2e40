/**
 * Progress for a call that waits on something silent (a machine wait, an exec):
 * sample it now and then and send what the sample says, as notifications/progress
 * and as a debug log line. Beats slow down as the wait grows, so a five-minute
 * wait sends about forty, not a hundred and fifty.
 *   const stop = heartbeat(ctx, async () => ({ progress: s, total: 60, message: `machine ${id} is ${state}` }))
 *   try { … } finally { stop() }
 */
import type { ToolContext } from './tool.ts'

export interface Beat {
  /** Must grow from beat to beat (the spec's rule for progress); elapsed seconds do. */
  progress: number
  total?: number
  message: string
  fields?: Record<string, unknown>
}

/** First beat after this long, and never more often. */
export const beatMs = 2000

/**
 * Beats until the returned stop() or the call's cancellation; a beat never overlaps the
 * previous one, and nothing is sent after stop(), even by a sample still in flight.
 * Does nothing when nobody would see a beat (no progress token, debug logs filtered out).
 */
export function heartbeat(ctx: Pick<ToolContext, 'signal' | 'wantsProgress' | 'progress' | 'log'>, sample: () => Promise<Beat>): () => void {
  if (!ctx.wantsProgress && !ctx.log.admits('debug')) return () => {}
  const began = Date.now()
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  const tick = async (): Promise<void> => {
    try {
      const beat = await sample()
      if (stopped || ctx.signal.aborted) return
      await ctx.progress(beat.progress, beat.total, beat.message)
      await ctx.log.send('debug', beat.message, beat.fields)
    } catch {
      // A failed sample (the machine went away mid-wait) skips a beat; the wait itself reports the failure.
    }
    if (!stopped && !ctx.signal.aborted) timer = setTimeout(tick, Math.max(beatMs, (Date.now() - began) / 10))
  }
  timer = setTimeout(tick, beatMs)
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
