/** hangar proxy ca: where the edge proxy's local CA certificate is, to trust it for https://<app>.<domain>. */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from '../command.ts'

export const proxy: Record<string, Command> = {
  ca: {
    usage: 'hangar proxy ca [--pem]',
    summary: "Print the path of the proxy's local CA certificate (--pem: the certificate itself)",
    flags: { pem: { type: 'boolean' } },
    async run({ flags, out }) {
      // The daemon made it on its first start under its data dir; no API needed to read a public certificate.
      const path = join(process.env.HANGAR_DATA_DIR ?? '/var/lib/hangar', 'proxy', 'ca', 'ca.crt')
      const pem = await readFile(path, 'utf8').catch(() => null)
      if (pem === null) {
        process.stderr.write(`no CA certificate at ${path}: start the daemon once (hangar up) — it creates the CA — or set HANGAR_DATA_DIR to its data dir\n`)
        return 1
      }
      if (flags.pem) process.stdout.write(pem)
      else out.result({ path, pem }, () => `${path}\ntrust it, e.g.: curl --cacert ${path} https://<app>.localhost:4443/`)
    },
  },
}
