/** Machine lifecycle tools: start, stop, restart, and wait for a state (with progress notifications and log messages). */
import { machineGet, machineRestart, machineStart, machineStop, machineWait, schemas } from '../../../ops/index.ts'
import { z } from 'zod'
import { isHangarError } from '../../../errors.ts'
import { heartbeat } from '../heartbeat.ts'
import { changes, opTool, readOnly } from '../tool.ts'
import { machineRef } from './fields.ts'
import { urlOf } from './machines.ts'

const stateView = z.object({ id: z.string(), state: z.string(), previous_state: z.string().optional(), url: z.string().nullable() })

const waitStates = ['started', 'stopped', 'suspended', 'destroyed', 'failed', 'settled'] as const

export const lifecycleTools = [
  opTool(machineStart, {
    name: 'machine_start',
    title: 'Start a machine',
    description: 'Start a stopped (or created, suspended, failed) machine and wait until it runs. A running machine is left as is.',
    input: z.object(machineRef),
    output: stateView,
    annotations: changes,
    async run({ app, id }, { backend }) {
      const { previous_state } = await backend.run(machineStart, { app, id })
      const m = await backend.run(machineGet, { app, id }, {})
      const url = urlOf(m)
      return { structured: { id, state: m.state, previous_state, url }, text: `machine ${id}: ${previous_state} → ${m.state}${url ? `; url ${url}` : ''}` }
    },
  }),

  opTool(machineStop, {
    name: 'machine_stop',
    title: 'Stop a machine',
    description: 'Stop a machine: its processes get the stop signal, then SIGKILL after the grace period. The disk is kept; machine_start brings it back. A stopped machine costs no CPU or memory.',
    input: z.object({
      ...machineRef,
      signal: schemas.signalName.optional().meta({ description: 'Stop signal (default: the image\'s, else SIGTERM).', examples: ['SIGINT'] }),
      timeout_s: z.number().int().min(0).max(3600).optional().meta({ description: 'Grace period in seconds before SIGKILL.' }),
    }),
    output: stateView,
    annotations: changes,
    async run({ app, id, signal, timeout_s }, { backend }) {
      await backend.run(machineStop, { app, id }, { ...(signal ? { signal } : {}), ...(timeout_s !== undefined ? { timeout: `${timeout_s}s` } : {}) })
      const m = await backend.run(machineGet, { app, id }, {})
      return { structured: { id, state: m.state, url: null }, text: `machine ${id} is ${m.state}; machine_start brings it back` }
    },
  }),

  opTool(machineRestart, {
    name: 'machine_restart',
    title: 'Restart a machine',
    description: "Stop and start a machine's main process, keeping its disk: use it after changing files the process reads at start (edit with machine_exec, then restart).",
    input: z.object(machineRef),
    output: stateView,
    annotations: changes,
    async run({ app, id }, { backend }) {
      await backend.run(machineRestart, { app, id }, {})
      const m = await backend.run(machineGet, { app, id }, {})
      const url = urlOf(m)
      return { structured: { id, state: m.state, url }, text: `machine ${id} restarted; it is ${m.state}${url ? `; url ${url}` : ''}` }
    },
  }),

  opTool(machineWait, {
    name: 'machine_wait',
    title: 'Wait for a machine state',
    description:
      'Block until a machine reaches a state (e.g. "stopped" after its job exits, or "settled" after any change), instead of polling machine_status. While waiting it sends progress notifications (with a progressToken) and debug log messages saying the current state.',
    input: z.object({
      ...machineRef,
      state: z.enum(waitStates).default('started').meta({ description: '"settled" means any state at rest.' }),
      timeout_s: z.number().int().min(1).max(300).default(60).meta({ description: 'Give up after this many seconds (default 60).' }),
    }),
    output: z.object({ id: z.string(), state: z.string(), waited_ms: z.number().int() }),
    annotations: readOnly,
    async run({ app, id, state, timeout_s }, ctx) {
      const { backend, log, signal } = ctx
      const began = Date.now()
      const seconds = (): number => Math.round((Date.now() - began) / 100) / 10
      await log.send('info', `waiting up to ${timeout_s} s for machine ${id} to be ${state}`, { app, id, state })
      // One wait, which the platform ends at the state, the timeout or the cancellation; the beats only look.
      const stop = heartbeat(ctx, async () => {
        const now = (await backend.run(machineGet, { app, id }, {})).state
        return { progress: seconds(), total: timeout_s, message: `machine ${id} is ${now}, waiting for ${state}`, fields: { app, id, state: now, waited_s: seconds() } }
      })
      try {
        const reached = (await backend.run(machineWait, { app, id }, { state: [state], timeout: timeout_s }, { signal })).state
        await log.send('info', `machine ${id} is ${reached} after ${seconds()} s`, { app, id, state: reached })
        return { structured: { id, state: reached, waited_ms: Date.now() - began }, text: `machine ${id} is ${reached} (waited ${Date.now() - began} ms)` }
      } catch (e) {
        if (isHangarError(e) && e.code === 'wait_timeout' && !signal.aborted) {
          await log.send('warning', `machine ${id} did not become ${state} within ${timeout_s} s`, { app, id, wanted: state, ...(e.details?.state ? { state: e.details.state } : {}) })
        }
        throw e
      } finally {
        stop()
      }
    },
  }),
]
