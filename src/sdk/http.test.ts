import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { Http } from './http.ts'

/**
 * A server whose first connection is dropped, unanswered, when a second request arrives on it: as a
 * server whose idle timer closes a kept-alive connection just as the client reuses it. Other connections
 * answer every request. `seen` lists the requests that reached it, by method and path.
 */
async function droppingServer(): Promise<{ url: string; seen: string[]; close(): void }> {
  const seen: string[] = []
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    const doomed = sockets.size === 1
    let answered = 0
    socket.on('error', () => {})
    socket.on('data', (d) => {
      seen.push(d.toString().split(' ').slice(0, 2).join(' '))
      if (doomed && answered++ > 0) return socket.destroy()
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return { url: `http://127.0.0.1:${port}`, seen, close: () => (sockets.forEach((s) => s.destroy()), server.close()) }
}

/** A client whose kept-alive connection the server will drop on its next request. */
async function clientOn(server: { url: string }): Promise<Http> {
  const http = new Http({ baseUrl: server.url, token: 't' })
  await http.json('GET', '/warm')
  // The connection goes back to the client's pool once the answer is read, a moment after json() returns.
  await new Promise((r) => setTimeout(r, 50))
  return http
}

test('a request the server dropped with its kept-alive connection is sent again, once, when that is safe', async (t) => {
  for (const [method, headers] of [['GET', undefined], ['DELETE', undefined], ['PUT', undefined], ['POST', { 'Idempotency-Key': 'k1' }]] as const) {
    const server = await droppingServer()
    t.after(server.close)
    const http = await clientOn(server)
    assert.deepEqual(await http.json(method, '/x', headers ? { headers, body: {} } : {}), {}, method)
    assert.deepEqual(server.seen, ['GET /warm', `${method} /x`, `${method} /x`])
  }
})

test('a request that is not safe to repeat is never sent twice: the caller gets "unavailable"', async (t) => {
  const server = await droppingServer()
  t.after(server.close)
  const http = await clientOn(server)
  await assert.rejects(http.json('POST', '/exec', { body: { cmd: 'true' } }), (e: Error & { code?: string }) => e.code === 'unavailable')
  assert.deepEqual(server.seen, ['GET /warm', 'POST /exec'])
})
