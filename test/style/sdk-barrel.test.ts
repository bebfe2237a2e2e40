import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'

test('the SDK imports nothing at runtime from the daemon side (platform, store, runtime, api)', () => {
  const dir = new URL('../../src/sdk/', import.meta.url)
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const src = readFileSync(new URL(f, dir), 'utf8')
    for (const m of src.matchAll(/^import (?!type )[^\n]* from '([^']+)'/gm)) {
      assert.doesNotMatch(m[1] as string, /\/(platform|store|runtime|api|daemon|images)\//, `${f} imports ${m[1]} at runtime`)
    }
  }
})
