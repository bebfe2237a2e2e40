import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DomainPatternError, parseDomainPattern } from './domain-pattern.ts'

test('names, leading wildcards and * alone are kept in canonical form', () => {
  assert.equal(parseDomainPattern('Example.COM.'), 'example.com')
  assert.equal(parseDomainPattern('*.npmjs.org'), '*.npmjs.org')
  assert.equal(parseDomainPattern('*'), '*')
  assert.equal(parseDomainPattern('_dmarc.example.com'), '_dmarc.example.com')
  assert.equal(parseDomainPattern('intranet'), 'intranet')
})

test('a wildcard anywhere but a leading label, an empty or malformed label, or an overlong name is refused', () => {
  for (const bad of ['ex*.com', 'a.*.com', '*example.com', '**.a.com', '', '.', 'a..b', '-a.com', 'a-.com', 'a b.com', 'http://a.com', 'a.com:443', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}com`]) {
    assert.throws(() => parseDomainPattern(bad), DomainPatternError, bad)
  }
  assert.throws(() => parseDomainPattern('a.*.com'), /only be a leading/)
})
