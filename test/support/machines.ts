/** A daemon with the busybox test image imported and an app ready: the usual start of a machine test. */
import { mkdtemp, rm } from 'node:fs/promises'
import { openAsBlob } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { isHangarError, type HangarError } from '../../src/errors.ts'
import { buildBusyboxImage } from './images.ts'
import { startDaemon, type TestDaemon } from './daemon.ts'

/** `args`: extra daemon flags (e.g. --proxy-hostname); `opts` as startDaemon's. */
export async function daemonWithBusybox(t: TestContext, app = 'testapp', args: string[] = [], opts: { dataDir?: string } = {}): Promise<TestDaemon & { app: string; image: string }> {
  const d = await startDaemon(t, args, opts)
  const dir = await mkdtemp(join(tmpdir(), 'hangar-img-'))
  try {
    const built = await buildBusyboxImage(dir)
    await d.client.images.import(await openAsBlob(built.path), { tag: 'busybox:latest' })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  await d.client.apps.create(app)
  return Object.assign(d, { app, image: 'busybox:latest' })
}

/** GET over plain HTTP with a deadline; only ever aimed at a machine's private address. */
export async function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      return { status: res.status, body: await res.text() }
    } catch (e) {
      if (Date.now() > deadline) throw e
      await new Promise((r) => setTimeout(r, 25))
    }
  }
}

/** The HangarError `p` rejects with, which must carry `code`. */
export async function refusedWith(p: Promise<unknown>, code: string): Promise<HangarError> {
  try {
    await p
  } catch (e) {
    assert.ok(isHangarError(e) && e.code === code, `expected ${code}, got ${String(e)}`)
    return e
  }
  assert.fail(`expected ${code}`)
}
