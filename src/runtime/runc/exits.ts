/**
 * Turns conmon's exit files into ExitInfo and events. conmon writes
 * `<exitsDir>/<id>` (the exit code as text; 128+N for signal N) when a
 * machine's process ends, and touches `<persist>/oom` first if the cgroup
 * OOM-killed it. The files outlive the daemon, so:
 *   - read(id) gives the last exit of a machine whoever watched (inspect uses it);
 *   - the watcher fires listeners for exits that appear after it started,
 *     exactly once each (keyed by file mtime), and wakes stop() waiters.
 * start() deletes the files, which begins a new "life" of the machine.
 */
import { existsSync, statSync, watch, type FSWatcher } from 'node:fs'
import { readFile, readdir, stat } from 'node:fs/promises'
import { constants } from 'node:os'
import type { ExitInfo } from '../types.ts'
import type { Layout } from './layout.ts'
import { isMachineId } from './layout.ts'

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]))

export function signalName(n: number): string | null {
  return signalNames.get(n) ?? null
}

/** The exit recorded on disk for a machine, or null if its process has not exited since the last start. */
export async function readExit(layout: Layout, id: string): Promise<ExitInfo | null> {
  const paths = layout.machine(id)
  let text: string
  let mtime: number
  try {
    const st = await stat(paths.exitFile)
    text = (await readFile(paths.exitFile, 'utf8')).trim()
    mtime = st.mtimeMs
  } catch {
    return null
  }
  if (!/^-?\d+$/.test(text)) return null // conmon is mid-write; the watcher will see it again
  const exitCode = Number(text)
  return {
    exitCode,
    signal: exitCode > 128 ? signalName(exitCode - 128) : null,
    oomKilled: existsSync(`${paths.persist}/oom`),
    exitedAt: Math.round(mtime),
  }
}

export class ExitWatcher {
  #layout: Layout
  #seen = new Map<string, number>()
  #emptyTries = new Map<string, number>()
  #watcher: FSWatcher | null = null
  #handle: (id: string, exit: ExitInfo) => Promise<void>
  #waiters = new Map<string, ((exit: ExitInfo) => void)[]>()

  /** `handle` runs once per new exit, before waiters resolve (the driver cleans runc state there). */
  constructor(layout: Layout, handle: (id: string, exit: ExitInfo) => Promise<void>) {
    this.#layout = layout
    this.#handle = handle
  }

  /** Watches first, then records what is already there, so no exit slips between the two. */
  async start(): Promise<void> {
    this.#watcher = watch(this.#layout.exitsDir, (_event, name) => {
      if (name && isMachineId(name)) void this.check(name)
    })
    for (const name of await readdir(this.#layout.exitsDir)) {
      if (!isMachineId(name)) continue
      const exit = await readExit(this.#layout, name)
      if (exit && !this.#seen.has(name)) this.#seen.set(name, exit.exitedAt)
    }
  }

  /** Looks at one machine's exit file; fires if it is new. Safe to call any time (stop polls it too). */
  async check(id: string): Promise<void> {
    let exit = await readExit(this.#layout, id)
    if (!exit) {
      if (!existsSync(this.#layout.machine(id).exitFile)) return
      // conmon may be mid-write; an exit file still empty after ~1 s never will be written (conmon killed).
      const tries = (this.#emptyTries.get(id) ?? 0) + 1
      this.#emptyTries.set(id, tries)
      if (tries < 200) {
        setTimeout(() => void this.check(id), 5)
        return
      }
      // The file's mtime keeps this exit's identity stable across later checks.
      exit = { exitCode: 255, signal: null, oomKilled: false, exitedAt: statSync(this.#layout.machine(id).exitFile).mtimeMs }
    }
    this.#emptyTries.delete(id)
    if (this.#seen.get(id) === exit.exitedAt) return
    this.#seen.set(id, exit.exitedAt)
    try {
      await this.#handle(id, exit)
    } catch {
      // The handler only tidies runc state; an exit must still be delivered.
    }
    const waiters = this.#waiters.get(id) ?? []
    this.#waiters.delete(id)
    for (const w of waiters) w(exit)
  }

  /** Forgets a machine's exit; called by start after removing the files. */
  reset(id: string): void {
    this.#seen.delete(id)
  }

  /** Resolves with the next exit of id, or null after timeoutMs. */
  next(id: string, timeoutMs: number): Promise<ExitInfo | null> {
    return new Promise((resolve) => {
      const list = this.#waiters.get(id) ?? []
      this.#waiters.set(id, list)
      // Polling backs up inotify, which can drop events under load.
      const poll = setInterval(() => void this.check(id), 250)
      const timer = setTimeout(() => done(null), timeoutMs)
      const done = (exit: ExitInfo | null): void => {
        clearInterval(poll)
        clearTimeout(timer)
        const rest = (this.#waiters.get(id) ?? []).filter((w) => w !== done)
        if (rest.length) this.#waiters.set(id, rest)
        else this.#waiters.delete(id)
        resolve(exit)
      }
      list.push(done)
    })
  }

  close(): void {
    this.#watcher?.close()
    this.#watcher = null
  }
}
