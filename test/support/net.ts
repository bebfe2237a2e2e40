/** Loopback helpers shared by tests and benches. */
import { createServer, type AddressInfo } from 'node:net'

/** A port free on loopback right now (best effort: nothing holds it for the caller). */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}
