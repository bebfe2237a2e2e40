import { test } from 'node:test'
import assert from 'node:assert/strict'
import { originAllowed } from './http.ts'

test('no Origin (not a browser) and localhost origins pass; others only when listed', () => {
  for (const o of [undefined, 'http://localhost:6274', 'http://127.0.0.1:4280', 'http://[::1]:3000', 'http://app.localhost']) assert.equal(originAllowed(o), true, String(o))
  for (const o of ['https://evil.example', 'http://127.0.0.1.evil.example', 'http://localhost.evil.example', 'null', 'not a url']) assert.equal(originAllowed(o), false, o)
  assert.equal(originAllowed('https://tools.example.com', ['https://tools.example.com']), true)
})
