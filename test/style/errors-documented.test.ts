import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { codes, HangarError, type Code } from '../../src/errors.ts'

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')

test('docs/errors.md lists every code with its status, and nothing else', () => {
  const rows = new Map([...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]))
  for (const code of Object.keys(codes) as Code[]) {
    assert.equal(rows.get(code), new HangarError(code, 'x').status, `docs/errors.md row for ${code}`)
  }
  assert.deepEqual([...rows.keys()].sort(), Object.keys(codes).sort())
})
