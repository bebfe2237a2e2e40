import { test } from 'node:test'
import assert from 'node:assert/strict'
import { daemonWithBusybox } from '../../support/machines.ts'

test('console gives an interactive terminal in the machine', async (t) => {
  const d = await daemonWithBusybox(t)
  const m = await d.client.machines.create(d.app, { config: { image: d.image } })
  const socket = await d.client.machines.console(d.app, m.id, { cols: 100, rows: 30 })
  let out = ''
  socket.on('data', (b: Buffer) => (out += b.toString()))
  const closed = new Promise((r) => socket.once('close', r))
  const until = async (seen: () => boolean): Promise<void> => {
    for (let i = 0; i < 100 && !seen(); i++) await new Promise((r) => setTimeout(r, 50))
  }
  // Type once the shell has drawn its prompt, as a person would.
  await until(() => out.includes('# '))
  socket.write('tty; echo hi-$((40+2))\n')
  // runc copies the size into the machine's PTY just after the shell starts: ask until it shows.
  for (let i = 0; i < 20 && !/30 100/.test(out); i++) {
    socket.write('stty size\n')
    await new Promise((r) => setTimeout(r, 100))
  }
  socket.write('exit\n')
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`console did not end; got: ${out}`)), 10_000))])
  assert.match(out, /\/dev\/pts\/\d+/, 'a real terminal')
  assert.match(out, /30 100/, 'with the requested size')
  assert.match(out, /hi-42/)
})

test('console on a stopped machine is refused with the way out', async (t) => {
  const d = await daemonWithBusybox(t)
  const m = await d.client.machines.create(d.app, { skip_launch: true, config: { image: d.image } })
  await assert.rejects(d.client.machines.console(d.app, m.id), (e: Error & { code?: string; hint?: string }) => e.code === 'invalid_state' && /start it first/.test(e.hint ?? ''))
})
