import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { EgressRule } from '../types.ts'
import { judgeName, learnSeconds, nameMatches } from './domain-rules.ts'

test('exact names, *.suffix (any depth, not the apex) and *', () => {
  assert.ok(nameMatches('example.com', 'Example.com.'))
  assert.ok(!nameMatches('example.com', 'www.example.com'))
  assert.ok(nameMatches('*.example.com', 'a.b.example.com'))
  assert.ok(!nameMatches('*.example.com', 'example.com'))
  assert.ok(!nameMatches('*.example.com', 'badexample.com'))
  assert.ok(nameMatches('*', 'anything.at.all'))
})

test('the first matching domain rule decides; CIDR rules are not consulted; * allows without learning', () => {
  const rules: EgressRule[] = [
    { cidr: '0.0.0.0/0', action: 'deny' },
    { domain: 'api.example.com', action: 'allow' },
    { domain: '*.example.com', action: 'deny' },
    { domain: '*', action: 'allow' },
  ]
  assert.deepEqual(judgeName(rules, 'api.example.com'), { action: 'allow', learn: true })
  assert.deepEqual(judgeName(rules, 'www.example.com'), { action: 'deny', learn: false })
  assert.deepEqual(judgeName(rules, 'other.org'), { action: 'allow', learn: false })
  assert.equal(judgeName([{ cidr: '10.0.0.0/8', action: 'allow' }], 'a.com'), null)
})

test('learned addresses last the TTL, at least a minute and at most a day', () => {
  assert.equal(learnSeconds(0), 60)
  assert.equal(learnSeconds(300), 300)
  assert.equal(learnSeconds(7 * 86_400), 86_400)
})
