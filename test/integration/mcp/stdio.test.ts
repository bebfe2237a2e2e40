/** `hangar mcp`: the same tools over stdio, relayed to the daemon's /mcp; image_import uploads a file from this host. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildBusyboxImage } from '../../support/images.ts'
import { connectStdio, ToolMeter } from '../../support/mcp.ts'
import { coreToolsSuite } from './core.suite.ts'

test('MCP over stdio (hangar mcp)', async (t) => {
  const d = await coreToolsSuite(t, connectStdio)

  await t.test('image_import reads the archive on the host running hangar mcp and uploads it; the daemon then lists it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hangar-mcp-import-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    const built = await buildBusyboxImage(dir)
    const mcp = new ToolMeter(await connectStdio(t, d))
    const imported = await mcp.call<{ images: { ref: string }[] }>('image_import', { path: built.path, tag: 'relayed:v1' })
    assert.equal(imported.isError, false, imported.text)
    assert.deepEqual(imported.structured.images.map((i) => i.ref), ['relayed:v1'])
    assert.equal((await d.client.images.get('relayed:v1')).ref, 'relayed:v1')
    const missing = await mcp.call('image_import', { path: join(dir, 'nope.tar') })
    assert.equal(missing.isError, true)
    assert.match(missing.text, /no file at/)
  })
})
