/**
 * A cancelled pull stops: its download's connection closes at the registry and
 * nothing is tagged; whether it is cancelled in the store's own client, by an SDK
 * caller whose request the daemon then sees end, or as an MCP image_pull call. A
 * pull that shares a layer download with a cancelled one still finishes. The
 * registry is a stub on loopback that stalls its first layer download.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { openImageStore, pullImage, type PullProgress } from '../../../src/images/index.ts'
import { startDaemon } from '../../support/daemon.ts'
import { useTmpDir } from '../../support/images.ts'
import { connectHttp } from '../../support/mcp.ts'
import { slowRegistry, type SlowRegistry } from '../../support/slow-registry.ts'

/** The registries these tests and benches use run on loopback, which pulls and pushes refuse unless allowed. */
const loopback = ['127.0.0.0/8', '::1/128']

/** The stalled download's connection, closed within 3 s of the cancel, before its last byte. */
async function closedEarly(reg: SlowRegistry): Promise<void> {
  const closed = await Promise.race([reg.closed, sleep(3000).then(() => null)])
  assert.ok(closed, 'the registry saw the download end within 3 s of the cancel')
  assert.equal(closed.finished, false, `it ended before the last byte (${closed.sentBytes} of 262144 sent)`)
}

test('a cancelled pull closes its layer download and tags nothing', async (t) => {
  const reg = await slowRegistry(t)
  const store = await openImageStore({ root: `${await useTmpDir(t)}/store`, pullAllow: loopback })
  const cancel = new AbortController()
  const seen: PullProgress[] = []
  const pull = pullImage(store, reg.ref, { signal: cancel.signal, onProgress: (p) => seen.push(p) })
  pull.catch(() => {})
  await reg.stalled
  while (!seen.some((p) => p.digest === reg.layerDigest && (p.bytes ?? 0) > 0)) await sleep(10)
  // A plain reason, as an MCP cancellation gives: final all the same, not a failure to retry.
  const at = Date.now()
  cancel.abort('the user gave up')
  await assert.rejects(pull, (e) => e === 'the user gave up')
  assert.ok(Date.now() - at < 1000, `rejected ${Date.now() - at} ms after the cancel, not after backing off to retry`)
  await closedEarly(reg)
  await assert.rejects(store.resolve(reg.ref), (e: Error & { code?: string }) => e.code === 'image_not_found')
  assert.deepEqual(await store.list(), [])
  assert.equal(reg.requests.filter((r) => r.includes(reg.layerDigest)).length, 1, `no retry after the cancel: ${reg.requests.join(', ')}`)
})

test('of two pulls sharing a layer download, cancelling the one that started it leaves the other to finish', async (t) => {
  const reg = await slowRegistry(t)
  const store = await openImageStore({ root: `${await useTmpDir(t)}/store`, pullAllow: loopback })
  const first = new AbortController()
  const a = pullImage(store, reg.ref, { signal: first.signal })
  a.catch(() => {})
  await reg.stalled
  const b = pullImage(store, reg.ref, { signal: new AbortController().signal })
  // b has its manifest and config and waits on a's layer download.
  while (reg.requests.filter((r) => r.endsWith('/manifests/1')).length < 2) await sleep(10)
  await sleep(200)
  first.abort()
  await assert.rejects(a, { name: 'AbortError' })
  await closedEarly(reg)
  const img = await b
  assert.equal(img.ref, reg.ref)
  assert.equal((await store.resolve(reg.ref)).digest, img.digest)
  assert.ok(reg.requests.some((r) => r.includes(reg.layerDigest) && / bytes=[1-9]\d*-$/.test(r)), `b resumed from what a left in ingest: ${reg.requests.join(', ')}`)
})

test("the daemon's pull stops when an SDK caller aborts or an MCP image_pull is cancelled", async (t) => {
  const d = await startDaemon(t)
  const tagged = async (ref: string): Promise<boolean> => (await d.client.images.list()).some((i) => i.ref === ref)

  await t.test('SDK (REST, Server-Sent Events): the request ends, and with it the pull', async (t) => {
    const reg = await slowRegistry(t)
    const cancel = new AbortController()
    const pull = d.client.images.pull(reg.ref, { signal: cancel.signal })
    pull.catch(() => {})
    await reg.stalled
    cancel.abort()
    await assert.rejects(pull)
    await closedEarly(reg)
    assert.equal(await tagged(reg.ref), false)
  })

  await t.test('MCP over Streamable HTTP: a cancelled image_pull', async (t) => {
    const reg = await slowRegistry(t)
    const client = await connectHttp(t, d)
    const cancel = new AbortController()
    const call = client.callTool({ name: 'image_pull', arguments: { ref: reg.ref } }, undefined, { signal: cancel.signal })
    call.catch(() => {})
    await reg.stalled
    cancel.abort('no longer needed')
    await assert.rejects(call, /no longer needed/)
    await closedEarly(reg)
    assert.equal(await tagged(reg.ref), false)
    assert.deepEqual(await client.ping(), {}, 'the session goes on')
  })
})
