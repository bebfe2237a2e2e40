/** `./hangar bench [name…]`: runs the benchmarks (all by default) and prints their figures. */
import { benchStart } from './start.ts'
import { benchBaseImage } from './base-image.ts'
import { benchProxy } from './proxy.ts'
import { benchRegistry } from './registry.ts'
import { benchCheckpoints } from './checkpoints.ts'
import { benchTokens } from './tokens.ts'
import { benchTokenizer } from './tokenizer.ts'

const all: Record<string, () => Promise<void>> = { start: benchStart, 'base-image': benchBaseImage, proxy: benchProxy, registry: benchRegistry, checkpoints: benchCheckpoints, tokens: benchTokens, tokenizer: benchTokenizer }
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(all)
for (const n of names) {
  const run = all[n]
  if (!run) {
    console.error(`unknown benchmark ${n}; one of: ${Object.keys(all).join(', ')}`)
    process.exit(2)
  }
  await run()
}
