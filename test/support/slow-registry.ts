/**
 * A registry stub on loopback that serves one image (a config and one 256 KiB layer)
 * but stalls its first layer download: 16 KiB at once, then 1 KiB every 100 ms, so a
 * pull is still downloading when a test cancels it. Later layer requests (another
 * pull's, or a Range resume) get their bytes at once. Closed when the test ends.
 *   const reg = await slowRegistry(t)
 *   const pull = hangar.images.pull(reg.ref, { signal }); await reg.stalled; abort()
 *   assert.equal((await reg.closed).finished, false)
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import type { TestContext } from 'node:test'

export interface SlowRegistry {
  /** 127.0.0.1:<port>/slow/img:1 */
  ref: string
  layerDigest: string
  /** Resolves once the stalled layer response has sent its first bytes. */
  stalled: Promise<void>
  /** Resolves when the stalled response's connection closes: finished is false when the client left first. */
  closed: Promise<{ finished: boolean; sentBytes: number }>
  /** Every request, as "METHOD path [range]". */
  requests: string[]
}

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

export async function slowRegistry(t: TestContext): Promise<SlowRegistry> {
  const layer = randomBytes(256 << 10)
  const layerDigest = digestOf(layer)
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [layerDigest] } }))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
  }))
  const requests: string[] = []
  let stall = true
  let stalled!: () => void
  let closed!: (c: { finished: boolean; sentBytes: number }) => void
  const result: Omit<SlowRegistry, 'ref'> = {
    layerDigest,
    stalled: new Promise((r) => (stalled = r)),
    closed: new Promise((r) => (closed = r)),
    requests,
  }

  const trickle = (res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(layer.length) })
    let sent = 16 << 10
    res.write(layer.subarray(0, sent), () => stalled())
    const timer = setInterval(() => {
      const next = Math.min(layer.length, sent + 1024)
      res.write(layer.subarray(sent, next))
      sent = next
      if (sent === layer.length) {
        clearInterval(timer)
        res.end()
      }
    }, 100)
    res.on('close', () => {
      clearInterval(timer)
      closed({ finished: res.writableFinished, sentBytes: sent })
    })
  }

  const server = createServer((req, res) => {
    const path = req.url ?? ''
    const range = req.headers.range
    requests.push(`${req.method} ${path}${range ? ` ${range}` : ''}`)
    const send = (type: string, body: Buffer): void => {
      res.writeHead(200, { 'content-type': type, 'content-length': String(body.length) })
      res.end(body)
    }
    if (path === '/v2/') return send('application/json', Buffer.from('{}'))
    if (path === '/v2/slow/img/manifests/1') return send('application/vnd.oci.image.manifest.v1+json', manifest)
    if (path === `/v2/slow/img/blobs/${digestOf(config)}`) return send('application/octet-stream', config)
    if (path === `/v2/slow/img/blobs/${layerDigest}`) {
      const from = Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1] ?? 0)
      if (from > 0) {
        res.writeHead(206, { 'content-range': `bytes ${from}-${layer.length - 1}/${layer.length}`, 'content-length': String(layer.length - from) })
        return res.end(layer.subarray(from))
      }
      if (!stall) return send('application/octet-stream', layer)
      stall = false
      return trickle(res)
    }
    res.writeHead(404, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: path }] }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => new Promise<void>((r) => {
    server.closeAllConnections()
    server.close(() => r())
  }))
  return { ref: `127.0.0.1:${(server.address() as { port: number }).port}/slow/img:1`, ...result }
}
