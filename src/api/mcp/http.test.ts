import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OwnHosts } from '../../images/index.ts'
import { originAllowed } from './http.ts'

test('no Origin (not a browser) and pages on the daemon\'s loopback names pass; others only when listed', () => {
  for (const o of [undefined, 'http://localhost:6274', 'http://127.0.0.1:4280', 'http://[::1]:3000']) assert.equal(originAllowed(o), true, String(o))
  for (const o of ['https://evil.example', 'http://127.0.0.1.evil.example', 'http://localhost.evil.example', 'null', 'not a url']) assert.equal(originAllowed(o), false, o)
  assert.equal(originAllowed('https://tools.example.com', ['https://tools.example.com']), true)
})

test('the apps Hangar serves at <app>.localhost are not trusted origins', () => {
  for (const o of ['http://app.localhost', 'http://app.localhost:4281', 'https://shop.localhost:4443', 'http://a.b.localhost']) assert.equal(originAllowed(o), false, o)
})

test('an operator\'s public host names are trusted, on any scheme and port; their subdomains are not', () => {
  const own = new OwnHosts()
  own.add('hangar.example.com', 'registry.example.com:5000')
  for (const o of ['https://hangar.example.com', 'http://registry.example.com:8443', 'http://localhost:6274']) assert.equal(originAllowed(o, [], own), true, o)
  for (const o of ['https://app.hangar.example.com', 'https://example.com', 'http://app.localhost']) assert.equal(originAllowed(o, [], own), false, o)
})
