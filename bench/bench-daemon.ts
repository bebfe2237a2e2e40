/** An in-process daemon on a temp data dir and its own subnet, with the busybox test image imported. */
import { mkdtemp, rm } from 'node:fs/promises'
import { openAsBlob } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/daemon/config.ts'
import { startDaemon, type Daemon } from '../src/daemon/main.ts'
import { Hangar } from '../src/sdk/index.ts'
import { unmountMachinesFs } from '../src/runtime/index.ts'
import { buildBusyboxImage } from '../test/support/images.ts'

export interface BenchDaemon {
  daemon: Daemon
  client: Hangar
  dataDir: string
  close(): Promise<void>
}

/** `extra`: daemon flags after the defaults (a later flag wins). */
export async function benchDaemon(extra: string[] = []): Promise<BenchDaemon> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hangar-bench-'))
  const config = loadConfig(
    // Machines' disks on a btrfs image as by default, but a small one: creates cost the same at any size.
    ['--data-dir', dataDir, '--machines-fs-size', '4G', '--rootfs-size', '256M', '--api-port', '0', '--proxy-port', '0', '--proxy-https-port', '0', '--tokenizer-port', '0', '--log-level', 'warn', '--network-name', 'hgbench', '--bridge', 'hgbench0', '--subnet', '10.211.0.0/24', '--subnet6', 'fd68:616e:6762::/64', '--cpu-overcommit', '16', ...extra],
    { HANGAR_BASE_IMAGE: '0' },
  )
  const daemon = await startDaemon(config)
  const token = (await import('node:fs')).readFileSync(join(dataDir, 'root-token'), 'utf8').trim()
  const client = new Hangar({ baseUrl: daemon.url, token })
  const imgDir = await mkdtemp(join(tmpdir(), 'hangar-bench-img-'))
  const built = await buildBusyboxImage(imgDir)
  await client.images.import(await openAsBlob(built.path), { tag: 'busybox:latest' })
  await rm(imgDir, { recursive: true, force: true })
  return {
    daemon,
    client,
    dataDir,
    async close() {
      for (const app of (await client.apps.list()).apps) await client.apps.destroy(app.name, { force: true })
      await daemon.close()
      await unmountMachinesFs(join(dataDir, 'runtime'))
      try {
        execFileSync('ip', ['link', 'del', 'hgbench0'], { stdio: 'ignore' })
      } catch {
        /* not created */
      }
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** Polls until the machine's own HTTP server answers 200; only ever its private address. */
export async function firstResponse(url: string, deadlineMs = 5000): Promise<void> {
  const end = performance.now() + deadlineMs
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(500) })
      await res.arrayBuffer()
      if (res.status === 200) return
    } catch {
      /* not listening yet */
    }
    if (performance.now() > end) throw new Error(`${url} did not answer within ${deadlineMs} ms`)
    await new Promise((r) => setImmediate(r))
  }
}
