import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OwnHosts } from './own-hosts.ts'
import { parseImageRef } from './ref.ts'

test('references on the daemon\'s listener and public names are local names; others keep their registry', () => {
  const own = new OwnHosts()
  own.addListener('127.0.0.1', 4280)
  own.add('Registry.Example.com')
  for (const ref of ['127.0.0.1:4280/robots/busybox:1', 'localhost:4280/robots/busybox:1', '[::1]:4280/robots/busybox:1', 'registry.example.com/robots/busybox:1']) {
    assert.deepEqual(own.local(parseImageRef(ref)), { registry: null, repository: 'robots/busybox', tag: '1', digest: null }, ref)
  }
  for (const ref of ['127.0.0.1:4281/robots/busybox:1', 'registry.example.com:5000/x:1', 'example.com/x:1', 'robots/busybox:1']) {
    assert.deepEqual(own.local(parseImageRef(ref)), parseImageRef(ref), ref)
  }
})

test('a wildcard listener owns every interface address, loopback included', () => {
  const own = new OwnHosts()
  own.addListener('0.0.0.0', 4280)
  assert.ok(own.has('127.0.0.1:4280') && own.has('localhost:4280') && own.has('[::1]:4280'))
  assert.equal(own.has('127.0.0.1:4281'), false)
})
