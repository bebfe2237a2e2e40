/**
 * A robot's session, scripted: from nothing to an HTTP app reachable through
 * Hangar, then a change to it, a checkpoint, a mistake that breaks it, and a
 * restore that serves it again, using only MCP tools over Streamable HTTP.
 * Prints what the session cost (tool calls, time, largest output); asserts only
 * that it worked and stayed small.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { daemonWithBusybox, httpGet } from '../../support/machines.ts'
import { connectHttp, ToolMeter } from '../../support/mcp.ts'

test('a robot gets an HTTP app running, changes it, checkpoints it, breaks it and restores it', async (t) => {
  const d = await daemonWithBusybox(t)
  const robot = new ToolMeter(await connectHttp(t, d))

  // 1. What can I run?
  const images = await robot.call<{ images: { ref: string; command: string[]; exposed_ports: string[] }[] }>('image_list', {})
  const busybox = images.structured.images.find((i) => i.ref === 'busybox:latest')
  assert.ok(busybox, images.text)

  // 2. Run a web server: one call, app created on the way, URL returned.
  const run = await robot.call<{ id: string; url: string; state: string }>('machine_run', {
    app: 'robot-site', image: busybox.ref, name: 'web', cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'], port: 8080, idempotency_key: 'robot-site-web-1',
  })
  assert.equal(run.isError, false, run.text)
  const { id, url } = run.structured
  assert.equal((await httpGet(url)).body, 'hello from hangar\n')

  // 3. Change the content, restart, look again.
  const edit = await robot.call<{ exit_code: number }>('machine_exec', { app: 'robot-site', id, command: 'echo v2 > /www/index.html' })
  assert.equal(edit.structured.exit_code, 0, edit.text)
  const restart = await robot.call<{ state: string; url: string }>('machine_restart', { app: 'robot-site', id })
  assert.equal(restart.structured.state, 'started', restart.text)
  assert.equal((await httpGet(restart.structured.url)).body, 'v2\n')

  // 4. Save the good state, break the site, and go back to it in one call.
  const cp = await robot.call<{ id: string }>('machine_checkpoint', { app: 'robot-site', id, comment: 'v2 served' })
  assert.equal(cp.isError, false, cp.text)
  const broken = await robot.call<{ exit_code: number }>('machine_exec', { app: 'robot-site', id, command: 'rm -rf /www' })
  assert.equal(broken.structured.exit_code, 0, broken.text)
  assert.equal((await httpGet(restart.structured.url)).status, 404, 'the site is broken')
  const restored = await robot.call<{ state: string }>('machine_restore', { app: 'robot-site', id, checkpoint: cp.structured.id })
  assert.equal(restored.structured.state, 'started', restored.text)
  assert.equal((await httpGet(restart.structured.url)).body, 'v2\n', 'served again as it was at the checkpoint')

  // 5. A last look at what happened, as a robot would before reporting back.
  const status = await robot.call<{ events: string[] }>('machine_status', { app: 'robot-site', id })
  assert.ok(status.structured.events.length > 0)

  const figures = `robot session: ${robot.calls} tool calls, ${robot.elapsedMs} ms in total, largest output ${robot.largestBytes} bytes (${robot.largestTool})`
  t.diagnostic(figures)
  console.log(figures)
  assert.ok(robot.calls <= 14)
  assert.ok(robot.largestBytes < 8 * 1024, figures)
})
