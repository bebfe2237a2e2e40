/** hangar up: runs the daemon in the foreground. */
import { configFlags, configUsage, loadConfig } from '../../daemon/config.ts'
import { startDaemon } from '../../daemon/main.ts'
import type { Command } from '../command.ts'

export const up: Command = {
  usage: `hangar up [flags]\n${configUsage()}`,
  summary: 'Start the Hangar daemon (API on 127.0.0.1:4280 by default)',
  flags: configFlags,
  /** Positionals are the raw flags after `up`; the daemon's config parser owns them. */
  async run({ positionals }) {
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
