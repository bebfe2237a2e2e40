/** hangar machine run|list|status|start|stop|restart|exec|logs|update|destroy */
import type { Machine, StopOptions } from '../../sdk/index.ts'
import { HangarError } from '../../errors.ts'
import { appFlag, type Command, type Invocation } from '../command.ts'
import { table } from '../output.ts'
import { envPairs, findMachine, intFlag } from '../resolve.ts'

const sizeFlags = {
  env: { type: 'string' as const, short: 'e', multiple: true },
  cpus: { type: 'string' as const },
  memory: { type: 'string' as const },
}

function target(inv: Invocation, usage: string): string {
  const id = inv.positionals[0]
  if (!id) throw new HangarError('invalid_argument', `missing machine id or name; usage: ${usage}`)
  return id
}

function summary(m: Machine): string[] {
  return [
    `${m.id}  ${m.name}  ${m.state}`,
    `  image    ${(m.config as { image?: string }).image ?? ''}`,
    `  address  ${m.private_ip ?? '-'}${m.private_ipv6 ? `  ${m.private_ipv6}` : ''}`,
    `  version  ${m.instance_id}`,
  ]
}

/** `--volume vol_…:/data` → config.mounts (the daemon checks the volume and the path). */
function volumeMounts(v: unknown): { volume: string; path: string }[] {
  return (v as string[]).map((spec) => {
    const at = spec.indexOf(':')
    if (at <= 0 || at === spec.length - 1) throw new HangarError('invalid_argument', `--volume takes VOLUME_ID:/path, got "${spec}"`)
    return { volume: spec.slice(0, at), path: spec.slice(at + 1) }
  })
}

/** A verb that finds the machine, calls one SDK method, and reports. */
function simple(usage: string, text: string, call: (inv: Invocation, app: string, id: string) => Promise<unknown>, done: (id: string) => string): Command {
  return {
    usage, summary: text, flags: appFlag,
    async run(inv) {
      const { app, machine } = await findMachine(inv.client(), target(inv, usage), inv.flags.app as string | undefined)
      const res = await call(inv, app, machine.id)
      inv.out.result(res ?? { ok: true }, () => done(machine.id))
    },
  }
}

export const machine: Record<string, Command> = {
  run: {
    usage: 'hangar machine run IMAGE [--app A] [--name N] [--env K=V]… [--cpus N] [--memory MB] [--volume VOL:/PATH] [-- CMD ARGS…]',
    summary: 'Create and start a machine (creates the app if needed)',
    flags: { ...appFlag, name: { type: 'string', short: 'n' }, ...sizeFlags, volume: { type: 'string', short: 'v', multiple: true } },
    async run({ positionals, rest, flags, out, client }) {
      const image = positionals[0]
      if (!image) throw new HangarError('invalid_argument', `missing IMAGE; usage: ${this.usage}`)
      const c = client()
      const app = (flags.app as string | undefined) ?? process.env.HANGAR_APP ?? 'default'
      try {
        await c.apps.get(app)
      } catch {
        await c.apps.create(app)
        out.note(`created app ${app}`)
      }
      const cpus = intFlag(flags.cpus, 'cpus')
      const memory = intFlag(flags.memory, 'memory')
      const m = await c.machines.create(app, {
        ...(flags.name ? { name: flags.name as string } : {}),
        config: {
          image,
          env: envPairs(flags.env),
          ...(cpus || memory ? { guest: { ...(cpus ? { cpus } : {}), ...(memory ? { memory_mb: memory } : {}) } } : {}),
          ...(rest.length ? { init: { exec: rest } } : {}),
          ...(flags.volume ? { mounts: volumeMounts(flags.volume) } : {}),
        },
      })
      out.result(m, (x) => [...summary(x), `next: hangar machine exec ${x.id} -- sh -c 'echo hi'   ·   hangar machine logs -f ${x.id}`])
    },
  },
  list: {
    usage: 'hangar machine list [--app A]',
    summary: 'List machines (all apps unless --app)',
    flags: appFlag,
    async run({ flags, out, client }) {
      const c = client()
      const apps = flags.app ? [flags.app as string] : (await c.apps.list()).apps.map((a) => a.name)
      const all = (await Promise.all(apps.map(async (a) => (await c.machines.list(a)).map((m) => ({ app: a, ...m }))))).flat()
      out.result(all, (list) =>
        list.length ? table([['ID', 'NAME', 'APP', 'STATE', 'ADDRESS', 'IMAGE'], ...list.map((m) => [m.id, m.name, m.app, m.state, m.private_ip ?? '-', String((m.config as { image?: string }).image)])]) : 'no machines; start one with `hangar machine run busybox`',
      )
    },
  },
  status: {
    usage: 'hangar machine status ID [--app A]',
    summary: 'Show a machine and its recent events',
    flags: appFlag,
    async run(inv) {
      const { app, machine: m } = await findMachine(inv.client(), target(inv, this.usage), inv.flags.app as string | undefined)
      const full = await inv.client().machines.get(app, m.id)
      inv.out.result(full, (x) => [...summary(x), '  events', ...x.events.map((e) => `    ${new Date(e.timestamp).toISOString()}  ${e.type.padEnd(8)} ${e.status.padEnd(9)} ${e.source}${e.request ? '  ' + JSON.stringify(e.request) : ''}`)])
    },
  },
  start: simple('hangar machine start ID [--app A]', 'Start a stopped machine', (i, a, id) => i.client().machines.start(a, id), (id) => `started ${id}`),
  stop: {
    usage: 'hangar machine stop ID [--app A] [--signal SIG] [--timeout 10s]',
    summary: 'Stop a machine (signal, grace period, then SIGKILL)',
    flags: { ...appFlag, signal: { type: 'string' }, timeout: { type: 'string' } },
    async run(inv) {
      const { app, machine: m } = await findMachine(inv.client(), target(inv, this.usage), inv.flags.app as string | undefined)
      // The daemon judges the signal's name and the duration; their errors name the flag's value.
      const opts = { ...(inv.flags.signal ? { signal: inv.flags.signal as StopOptions['signal'] } : {}), ...(inv.flags.timeout ? { timeout: inv.flags.timeout as string } : {}) }
      inv.out.result(await inv.client().machines.stop(app, m.id, opts), () => `stopped ${m.id}; start it again with: hangar machine start ${m.id}`)
    },
  },
  restart: simple('hangar machine restart ID [--app A]', 'Restart a machine', (i, a, id) => i.client().machines.restart(a, id), (id) => `restarted ${id}`),
  destroy: {
    usage: 'hangar machine destroy ID [--app A] [--force]',
    summary: 'Destroy a machine and its disk (--force if it is running)',
    flags: { ...appFlag, force: { type: 'boolean', short: 'f' } },
    async run(inv) {
      const { app, machine: m } = await findMachine(inv.client(), target(inv, this.usage), inv.flags.app as string | undefined)
      inv.out.result(await inv.client().machines.destroy(app, m.id, { force: inv.flags.force === true }), () => `destroyed ${m.id}`)
    },
  },
  exec: {
    usage: 'hangar machine exec ID [--app A] [--timeout S] -- CMD ARGS…',
    summary: "Run a command in a machine; exits with the command's exit code",
    flags: { ...appFlag, timeout: { type: 'string' } },
    async run(inv) {
      if (!inv.rest.length) throw new HangarError('invalid_argument', `missing command after --; usage: ${this.usage}`)
      const { app, machine: m } = await findMachine(inv.client(), target(inv, this.usage), inv.flags.app as string | undefined)
      const timeout = intFlag(inv.flags.timeout, 'timeout')
      const r = await inv.client().machines.exec(app, m.id, { command: inv.rest, ...(timeout ? { timeout } : {}) })
      if (inv.out.json) inv.out.result(r, () => '')
      else {
        process.stdout.write(r.stdout)
        process.stderr.write(r.stderr)
        if (r.stdout_truncated || r.stderr_truncated) process.stderr.write('[output truncated]\n')
        if (r.timed_out) process.stderr.write(`[timed out; pass --timeout to allow longer]\n`)
      }
      return r.exit_code
    },
  },
  console: {
    usage: 'hangar machine console ID [--app A] [-- CMD ARGS…]',
    summary: 'An interactive shell (or CMD) in a started machine',
    flags: appFlag,
    async run(inv) {
      const { app, machine: m } = await findMachine(inv.client(), target(inv, this.usage), inv.flags.app as string | undefined)
      const stdin = process.stdin
      const socket = await inv.client().machines.console(app, m.id, { cmd: inv.rest, cols: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 })
      if (stdin.isTTY) stdin.setRawMode(true)
      stdin.pipe(socket)
      socket.pipe(process.stdout)
      await new Promise((resolve) => socket.once('close', resolve))
      if (stdin.isTTY) stdin.setRawMode(false)
      stdin.unpipe(socket)
      stdin.pause()
    },
  },
  logs: {
    usage: 'hangar machine logs ID [--app A] [-f] [--tail N]',
    summary: "Print a machine's stdout/stderr; -f follows",
    flags: { ...appFlag, follow: { type: 'boolean', short: 'f' }, tail: { type: 'string' } },
    async run(inv) {
      const { app, machine: m } = await findMachine(inv.client(), target(inv, this.usage), inv.flags.app as string | undefined)
      const tail = intFlag(inv.flags.tail, 'tail')
      const print = (l: { timestamp: string; stream: string; message: string }): void => {
        process.stdout.write(inv.out.json ? JSON.stringify(l) + '\n' : `${l.timestamp} ${l.stream === 'stderr' ? 'E' : ' '} ${l.message}\n`)
      }
      if (!inv.flags.follow) {
        for (const l of await inv.client().machines.logs(app, m.id, tail !== undefined ? { tail } : {})) print(l)
        return
      }
      const ac = new AbortController()
      process.once('SIGINT', () => ac.abort())
      try {
        for await (const l of inv.client().machines.followLogs(app, m.id, { signal: ac.signal, ...(tail !== undefined ? { tail } : {}) })) print(l)
      } catch (e) {
        if (!ac.signal.aborted) throw e
      }
    },
  },
  update: {
    usage: 'hangar machine update ID [--app A] [--image IMAGE] [--env K=V]… [--cpus N] [--memory MB] [-- CMD ARGS…]',
    summary: "Change a machine's config, or just give it the app's current secrets (restarts it on the new version)",
    flags: { ...appFlag, image: { type: 'string' }, ...sizeFlags },
    async run(inv) {
      const c = inv.client()
      const { app, machine: m } = await findMachine(c, target(inv, this.usage), inv.flags.app as string | undefined)
      const config = { ...(m.config as { image: string; env?: Record<string, string>; guest?: Record<string, unknown>; init?: Record<string, unknown> }) }
      if (inv.flags.image) config.image = inv.flags.image as string
      if (inv.flags.env) config.env = { ...config.env, ...envPairs(inv.flags.env) }
      const cpus = intFlag(inv.flags.cpus, 'cpus')
      const memory = intFlag(inv.flags.memory, 'memory')
      if (cpus || memory) config.guest = { ...config.guest, ...(cpus ? { cpus } : {}), ...(memory ? { memory_mb: memory } : {}) }
      if (inv.rest.length) config.init = { ...config.init, exec: inv.rest }
      // current_version: a concurrent update makes this one fail instead of being silently overwritten.
      const updated = await c.machines.update(app, m.id, { config, current_version: m.instance_id })
      inv.out.result(updated, (x) => [`updated ${x.id} to version ${x.instance_id}`, ...summary(x)])
    },
  },
}
