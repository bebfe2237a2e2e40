/** Machine lifecycle tools: start, stop, restart, and wait for a state (with progress notifications). */
import { z } from 'zod'
import { isHangarError } from '../../../errors.ts'
import { changes, defineTool, readOnly } from '../tool.ts'
import { machineRef } from './fields.ts'
import { urlOf } from './machines.ts'

const stateView = z.object({ id: z.string(), state: z.string(), previous_state: z.string().optional(), url: z.string().nullable() })

const waitStates = ['started', 'stopped', 'suspended', 'destroyed', 'failed', 'settled'] as const

/** Slice length of a wait while reporting progress: short enough to feel alive, long enough to be cheap. */
const progressSliceS = 2

export const lifecycleTools = [
  defineTool({
    name: 'machine_start',
    title: 'Start a machine',
    description: 'Start a stopped (or created, suspended, failed) machine and wait until it runs. A running machine is left as is.',
    input: z.object(machineRef),
    output: stateView,
    annotations: changes,
    async run({ app, id }, { backend }) {
      const { previous_state } = await backend.machines.start(app, id)
      const m = await backend.machines.get(app, id)
      const url = urlOf(m)
      return { structured: { id, state: m.state, previous_state, url }, text: `machine ${id}: ${previous_state} → ${m.state}${url ? `; url ${url}` : ''}` }
    },
  }),

  defineTool({
    name: 'machine_stop',
    title: 'Stop a machine',
    description: 'Stop a machine: its processes get the stop signal, then SIGKILL after the grace period. The disk is kept; machine_start brings it back. A stopped machine costs no CPU or memory.',
    input: z.object({
      ...machineRef,
      signal: z.string().regex(/^SIG[A-Z0-9]+$/).optional().meta({ description: 'Stop signal (default: the image\'s, else SIGTERM).', examples: ['SIGINT'] }),
      timeout_s: z.number().int().min(0).max(3600).optional().meta({ description: 'Grace period in seconds before SIGKILL.' }),
    }),
    output: stateView,
    annotations: changes,
    async run({ app, id, signal, timeout_s }, { backend }) {
      await backend.machines.stop(app, id, { ...(signal ? { signal } : {}), ...(timeout_s !== undefined ? { timeout: `${timeout_s}s` } : {}) })
      const m = await backend.machines.get(app, id)
      return { structured: { id, state: m.state, url: null }, text: `machine ${id} is ${m.state}; machine_start brings it back` }
    },
  }),

  defineTool({
    name: 'machine_restart',
    title: 'Restart a machine',
    description: "Stop and start a machine's main process, keeping its disk: use it after changing files the process reads at start (edit with machine_exec, then restart).",
    input: z.object(machineRef),
    output: stateView,
    annotations: changes,
    async run({ app, id }, { backend }) {
      await backend.machines.restart(app, id)
      const m = await backend.machines.get(app, id)
      const url = urlOf(m)
      return { structured: { id, state: m.state, url }, text: `machine ${id} restarted; it is ${m.state}${url ? `; url ${url}` : ''}` }
    },
  }),

  defineTool({
    name: 'machine_wait',
    title: 'Wait for a machine state',
    description:
      'Block until a machine reaches a state (e.g. "stopped" after its job exits, or "settled" after any change), instead of polling machine_status. Sends progress notifications while waiting when the client asks for them.',
    input: z.object({
      ...machineRef,
      state: z.enum(waitStates).default('started').meta({ description: '"settled" means any state at rest.' }),
      timeout_s: z.number().int().min(1).max(300).default(60).meta({ description: 'Give up after this many seconds (default 60).' }),
    }),
    output: z.object({ id: z.string(), state: z.string(), waited_ms: z.number().int() }),
    annotations: readOnly,
    async run({ app, id, state, timeout_s }, { backend, wantsProgress, progress, signal }) {
      const began = Date.now()
      const done = (s: string) => ({ structured: { id, state: s, waited_ms: Date.now() - began }, text: `machine ${id} is ${s} (waited ${Date.now() - began} ms)` })
      if (!wantsProgress) return done((await backend.machines.wait(app, id, [state], timeout_s, signal)).state)
      // With a progress token: wait in short slices and report the state between them.
      const deadline = began + timeout_s * 1000
      for (;;) {
        const left = Math.ceil((deadline - Date.now()) / 1000)
        try {
          return done((await backend.machines.wait(app, id, [state], Math.max(1, Math.min(progressSliceS, left)), signal)).state)
        } catch (e) {
          if (!isHangarError(e) || e.code !== 'wait_timeout' || left <= progressSliceS || signal.aborted) throw e
        }
        const now = (await backend.machines.get(app, id)).state
        await progress(Math.round((Date.now() - began) / 1000), timeout_s, `machine ${id} is ${now}, waiting for ${state}`)
      }
    },
  }),
]
