/**
 * The hangar CLI: `hangar <resource> <verb> [args] [--json]`. Talks to the
 * daemon only through the SDK; `hangar up` runs the daemon itself.
 */
import { parseArgs } from 'node:util'
import { Hangar } from '../sdk/index.ts'
import { commonFlags, type Command } from './command.ts'
import { Output } from './output.ts'
import { apps } from './commands/apps.ts'
import { fs } from './commands/fs.ts'
import { image } from './commands/image.ts'
import { machine } from './commands/machine.ts'
import { checkpointCommands } from './commands/checkpoint.ts'
import { volumeCommands } from './commands/volume.ts'
import { mcp } from './commands/mcp.ts'
import { proxy } from './commands/proxy.ts'
import { tokens } from './commands/tokens.ts'
import { secretsCommands } from './commands/secrets.ts'
import { tokenizer } from './commands/tokenizer.ts'
import { up } from './commands/up.ts'

const groups: Record<string, Record<string, Command>> = { apps, machine: { ...machine, ...checkpointCommands }, volume: volumeCommands, secrets: secretsCommands, fs, image, proxy, tokens, tokenizer }
const aliases: Record<string, string> = { app: 'apps', machines: 'machine', m: 'machine', images: 'image', token: 'tokens', secret: 'secrets' }

function help(): string {
  const lines = ['usage: hangar <command> [--json]', '', `  ${'up'.padEnd(22)} ${up.summary}`, `  ${'mcp'.padEnd(22)} ${mcp.summary}`]
  for (const [g, verbs] of Object.entries(groups)) for (const [v, c] of Object.entries(verbs)) lines.push(`  ${`${g} ${v}`.padEnd(22)} ${c.summary}`)
  lines.push('', 'Environment: HANGAR_API_URL, HANGAR_TOKEN (default: the local daemon and <data-dir>/root-token), HANGAR_DATA_DIR, HANGAR_APP')
  return lines.join('\n')
}

async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--')
  const args = dash >= 0 ? argv.slice(0, dash) : argv
  const rest = dash >= 0 ? argv.slice(dash + 1) : []
  const [first, second] = args
  const json = args.includes('--json')
  const out = new Output(json)
  if (!first || first === 'help' || first === '--help' || first === '-h') {
    process.stdout.write(help() + '\n')
    return first ? 0 : 2
  }
  let cmd: Command | undefined
  let skip = 1
  if (first === 'up') cmd = up
  else if (first === 'mcp') cmd = mcp
  else {
    const group = groups[aliases[first] ?? first]
    cmd = group?.[second ?? '']
    skip = 2
    if (group && !cmd) {
      process.stderr.write(`unknown verb "${second ?? ''}" for ${first}; one of: ${Object.keys(group).join(', ')}\n`)
      return 2
    }
  }
  if (!cmd) {
    process.stderr.write(`unknown command "${first}"\n\n${help()}\n`)
    return 2
  }
  if (cmd === up) {
    try {
      await up.run({ positionals: args.slice(1), rest, flags: {}, out, client: () => Hangar.fromEnv() })
      return 0
    } catch (e) {
      // A daemon that failed to start may already hold watchers and timers: exit, do not linger.
      process.exit(out.error(e))
    }
  }
  try {
    const { values, positionals } = parseArgs({ args: args.slice(skip), options: { ...commonFlags, ...cmd.flags }, allowPositionals: true, strict: true })
    if (values.help) {
      process.stdout.write(`${cmd.usage}\n\n${cmd.summary}\n`)
      return 0
    }
    let client: Hangar | undefined
    const code = await cmd.run({ positionals, rest, flags: values as Record<string, string | boolean | string[] | undefined>, out, client: () => (client ??= Hangar.fromEnv()) })
    return typeof code === 'number' ? code : 0
  } catch (e) {
    if (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${e.message}\nusage: ${cmd.usage}\n`)
      return 2
    }
    return out.error(e)
  }
}

process.exitCode = await main(process.argv.slice(2))
