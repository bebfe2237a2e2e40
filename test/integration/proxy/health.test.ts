/**
 * Service health checks on a real machine: the proxy runs them, the Machines
 * API reports them in Fly's `checks[]` shape, and a failing machine gets no
 * balanced traffic (a 503 that names the failure when it is the only one).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, viaProxy, webMachine } from './support.ts'

type Check = { name: string; status: string; output: string; updated_at: string }

test('health checks run on a real machine, show in the machine view, and keep traffic off a failing machine', async (t) => {
  const d = await daemonWithBusybox(t)
  const checks = [
    { type: 'http', path: '/id', interval: '200ms', grace_period: '0s' },
    { type: 'tcp', interval: '200ms', grace_period: '0s' },
  ]
  const m = await webMachine(d, { services: httpServices({ checks }) })
  const view = async (): Promise<Check[]> => ((await d.client.machines.get(d.app, m.id)) as { checks?: Check[] }).checks ?? []
  let seen: Check[] = []
  for (let i = 0; i < 100 && !(seen.length === 2 && seen.every((c) => c.status === 'passing')); i++) {
    await sleep(100)
    seen = await view()
  }
  assert.deepEqual(seen.map((c) => [c.name, c.status, c.output]), [
    ['servicecheck-00-http-8080', 'passing', 'HTTP GET /id passed'],
    ['servicecheck-01-tcp-8080', 'passing', 'TCP connect to port 8080 passed'],
  ])
  assert.equal((await viaProxy(d, d.app, '/id')).body.trim(), m.id)

  // Break the HTTP check: the file it reads goes away (busybox httpd answers 404).
  const r = await d.client.machines.exec(d.app, m.id, { command: ['rm', '/www/id'] })
  assert.equal(r.exit_code, 0)
  for (let i = 0; i < 100 && seen[0]?.status !== 'critical'; i++) {
    await sleep(100)
    seen = await view()
  }
  assert.deepEqual([seen[0]?.status, seen[0]?.output], ['critical', 'HTTP GET /id answered 404'])
  const res = await viaProxy(d, d.app, '/')
  assert.equal(res.status, 503)
  assert.match(res.body, new RegExp(`fails its health checks \\(${m.id}: HTTP GET /id answered 404\\)`))
})
