/**
 * hangar up: runs the daemon in the foreground. The daemon's modules load only
 * here, so every other CLI command starts without them.
 */
import type { Command } from '../command.ts'

export const up: Command = {
  usage: 'hangar up [--data-dir DIR] [--api-port N] … (every flag: docs/operations.md, or `hangar up --help`)',
  summary: 'Start the Hangar daemon (API on 127.0.0.1:4280 by default)',
  /** Positionals are the raw flags after `up`; the daemon's config parser owns them. */
  async run({ positionals }) {
    const { configUsage, loadConfig } = await import('../../daemon/config.ts')
    if (positionals.includes('--help') || positionals.includes('-h')) {
      process.stdout.write(`hangar up [flags]\n${configUsage()}\n`)
      return
    }
    const { startDaemon } = await import('../../daemon/main.ts')
    const config = loadConfig(positionals, process.env)
    const daemon = await startDaemon(config)
    process.stderr.write(`hangar: daemon ready at ${daemon.url}\nhangar: root API token in ${config.dataDir}/root-token\nhangar: try: ./hangar machine run debian   (the Debian base is built on first start; see the log)\n`)
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        void daemon.close().then(resolve)
      }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
  },
}
