/**
 * A real WebSocket through the proxy: undici's WebSocket client, which checks
 * Sec-WebSocket-Accept itself, talks to an RFC 6455 echo server on a busybox
 * machine. (streaming-upgrade.test.ts pipes raw bytes through an Upgrade; this
 * one speaks the protocol on both ends.)
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import diagnostics from 'node:diagnostics_channel'
import type { LookupFunction } from 'node:net'
import { Agent, WebSocket } from 'undici'
import { daemonWithBusybox } from '../../support/machines.ts'
import { httpServices, webMachine } from './support.ts'

// busybox has no WebSocket server, so this is the protocol by hand: just enough
// of RFC 6455 to echo messages to a real client. nc runs it once per connection
// with the socket as stdin/stdout. Applets the test image doesn't link are run
// as `busybox <applet>`.
const ws = `bb() { busybox "$@"; }
take() { dd bs="$1" count=1 iflag=fullblock 2>/dev/null; }  # exactly $1 bytes, never more: the next frame stays unread
bytes() { bb od -An -v -tu1; }                              # bytes -> decimal numbers
cr=$(printf '\\r')

# Handshake: read the request head; Sec-WebSocket-Accept = base64(binary SHA-1(key + the RFC's GUID)).
key=
while read -r line; do
  line=\${line%"$cr"}
  [ -z "$line" ] && break
  [ "$(echo "\${line%%:*}" | bb tr A-Z a-z)" = sec-websocket-key ] && key=$(echo "\${line#*:}" | bb tr -d ' ')
done
accept=$(printf '%s' "\${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | bb sha1sum | bb cut -c1-40 | bb xxd -r -p | bb base64)
printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: %s\\r\\n\\r\\n' "$accept"

# Frames: FIN+opcode byte, MASK+length byte, a 16-bit length when that length
# is 126 (64-bit lengths are not needed here), the 4-byte mask, the masked
# payload. Each goes back unmasked with the same opcode (a ping gets a pong),
# built in hex by awk (XOR with the mask) and turned into bytes by xxd.
# A close frame is answered with a close frame, and the run ends.
while :; do
  set -- $(take 2 | bytes)
  [ $# -eq 2 ] || exit 0
  op=$(($1 & 15)) len=$(($2 & 127))
  if [ $len -eq 126 ]; then set -- $(take 2 | bytes); len=$(($1 * 256 + $2))
  elif [ $len -eq 127 ]; then exit 1; fi
  mask=$(take 4 | bytes)
  reply=$op; [ $op -eq 9 ] && reply=10
  if [ $len -lt 126 ]; then head=$(printf '%02x%02x' $((128 | reply)) $len)
  else head=$(printf '%02x7e%04x' $((128 | reply)) $len); fi
  { [ $len -eq 0 ] || take $len | bytes; } | bb awk -v m="$mask" -v head="$head" '
    BEGIN { split(m, k, " "); print head }
    { for (i = 1; i <= NF; i++) { printf "%02x", xor($i, k[n % 4 + 1]); n++ }; print "" }' | bb xxd -r -p
  [ $op -eq 8 ] && exit 0
done`

/** Every name resolves to 127.0.0.1 (the proxy's address): `<app>.localhost` must route by Host, never reach DNS. */
const loopback: LookupFunction = (_host, opts, cb) =>
  opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : (cb as (e: null, a: string, f: number) => void)(null, '127.0.0.1', 4)

/** Messages in arrival order; `next()` waits (at most 15 s) for the next one. */
function inbox(socket: WebSocket): { next: () => Promise<string | ArrayBuffer> } {
  const got: (string | ArrayBuffer)[] = []
  const waiting: ((m: string | ArrayBuffer) => void)[] = []
  socket.addEventListener('message', (e) => {
    const w = waiting.shift()
    if (w) w(e.data)
    else got.push(e.data)
  })
  return {
    next: () =>
      got.length
        ? Promise.resolve(got.shift()!)
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no echo within 15 s')), 15_000)
            waiting.push((m) => (clearTimeout(timer), resolve(m)))
          }),
  }
}

interface OpenMessage { websocket: WebSocket; address: { address: string } | null; handshakeResponse: { status: number; headers: Record<string, string> } }

async function connect(t: TestContext, url: string): Promise<{ socket: WebSocket; opened: OpenMessage }> {
  const agent = new Agent({ connect: { lookup: loopback } })
  t.after(() => agent.close())
  const socket = new WebSocket(url, { dispatcher: agent })
  socket.binaryType = 'arraybuffer'
  t.after(() => socket.readyState === WebSocket.OPEN && socket.close())
  // undici publishes the handshake's answer (status, headers, peer) right after 'open'.
  let onOpen!: (m: unknown) => void
  const opened = new Promise<OpenMessage>((resolve) => {
    onOpen = (m) => (m as OpenMessage).websocket === socket && resolve(m as OpenMessage)
    diagnostics.subscribe('undici:websocket:open', onOpen)
  })
  t.after(() => diagnostics.unsubscribe('undici:websocket:open', onOpen))
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true })
    socket.addEventListener('close', (e) => reject(new Error(`handshake failed: close ${e.code} ${e.reason}`)), { once: true })
  })
  return { socket, opened: await opened }
}

test('a WebSocket echo through the proxy, with a real client and a real (busybox shell) server', async (t) => {
  const d = await daemonWithBusybox(t, 'wsecho')
  await webMachine(d, { services: httpServices(), exec: ['nc', '-ll', '-p', '8080', '-e', '/www/cgi-bin/ws'], cgi: { ws } })
  const proxy = new URL(d.proxyUrl)
  assert.equal(proxy.hostname, '127.0.0.1')

  const { socket, opened } = await connect(t, `ws://${d.app}.localhost:${proxy.port}/chat`)
  const { next } = inbox(socket)

  await t.test('the handshake is the machine\'s, verified by the client, and passed through the proxy', () => {
    // undici has already checked Sec-WebSocket-Accept against its own key (else no 'open').
    assert.equal(opened.address?.address, '127.0.0.1')
    assert.equal(opened.handshakeResponse.status, 101)
    const h = new Map(Object.entries(opened.handshakeResponse.headers).map(([k, v]) => [k.toLowerCase(), v]))
    assert.equal(h.get('upgrade')?.toLowerCase(), 'websocket')
    assert.match(String(h.get('via')), /1\.1 hangar/)
    assert.match(String(h.get('fly-request-id')), /^[0-9A-Z]{26}-/)
  })

  await t.test('text messages come back identical: short, 16-bit length, unicode, 64 KB', async () => {
    const long = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(6).slice(0, 200)
    const max = Array.from({ length: 65_535 }, (_, i) => String.fromCharCode(33 + (i % 94))).join('')
    for (const m of ['hello', long, 'héllo wörld ✓ 日本語 🚀', max]) {
      socket.send(m)
      const back = await next()
      assert.equal(typeof back, 'string')
      assert.equal((back as string).length, m.length)
      assert.ok(back === m, `echo of a ${Buffer.byteLength(m)}-byte message differs`)
    }
  })

  await t.test('a binary message with every byte value comes back identical', async () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    socket.send(all)
    const back = await next()
    assert.ok(back instanceof ArrayBuffer)
    assert.deepEqual(new Uint8Array(back), all)
  })

  await t.test('the connection survives an idle pause', async () => {
    await new Promise((r) => setTimeout(r, 2500))
    assert.equal(socket.readyState, WebSocket.OPEN)
    socket.send('still here')
    assert.equal(await next(), 'still here')
  })

  await t.test('close with 1000 completes: the machine answers the close frame', async () => {
    const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) =>
      socket.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }), { once: true }),
    )
    socket.close(1000, 'done')
    const c = await closed
    assert.deepEqual(c, { code: 1000, reason: 'done', wasClean: true })
  })
})
