import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isHangarError } from '../errors.ts'
import { formatRef, parseImageRef } from './ref.ts'

const hex = 'a'.repeat(64)

test('a bare name gets the latest tag and no registry', () => {
  assert.deepEqual(parseImageRef('debian'), { registry: null, repository: 'debian', tag: 'latest', digest: null })
})

test('name:tag, nested paths and separators parse', () => {
  assert.deepEqual(parseImageRef('busybox:1.36'), { registry: null, repository: 'busybox', tag: '1.36', digest: null })
  assert.deepEqual(parseImageRef('my_org/some-app__x.y:v1.0_rc-2'), { registry: null, repository: 'my_org/some-app__x.y', tag: 'v1.0_rc-2', digest: null })
})

test('a registry with a port is told apart from a tag', () => {
  assert.deepEqual(parseImageRef('localhost:4280/foo/bar:tag'), { registry: 'localhost:4280', repository: 'foo/bar', tag: 'tag', digest: null })
  assert.deepEqual(parseImageRef('localhost:4280/foo/bar'), { registry: 'localhost:4280', repository: 'foo/bar', tag: 'latest', digest: null })
  assert.deepEqual(parseImageRef('localhost/foo'), { registry: 'localhost', repository: 'foo', tag: 'latest', digest: null })
  assert.deepEqual(parseImageRef('ghcr.io/a/b:1'), { registry: 'ghcr.io', repository: 'a/b', tag: '1', digest: null })
})

test('a first component without . or : is part of the repository', () => {
  assert.deepEqual(parseImageRef('foo/bar'), { registry: null, repository: 'foo/bar', tag: 'latest', digest: null })
})

test('Docker Hub names are shown in the familiar form', () => {
  assert.deepEqual(parseImageRef('docker.io/library/busybox:1.36'), { registry: null, repository: 'busybox', tag: '1.36', digest: null })
  assert.deepEqual(parseImageRef('index.docker.io/foo/bar'), { registry: null, repository: 'foo/bar', tag: 'latest', digest: null })
})

test('digests parse with and without a tag', () => {
  assert.deepEqual(parseImageRef(`name@sha256:${hex}`), { registry: null, repository: 'name', tag: '', digest: `sha256:${hex}` })
  assert.deepEqual(parseImageRef(`name:1@sha256:${hex}`), { registry: null, repository: 'name', tag: '1', digest: `sha256:${hex}` })
  assert.equal(formatRef(parseImageRef(`name@sha256:${hex}`)), `name@sha256:${hex}`)
  assert.equal(formatRef(parseImageRef('localhost:4280/a')), 'localhost:4280/a:latest')
})

test('invalid references throw invalid_image_ref', () => {
  const bad = ['', ' debian', 'Debian', 'foo//bar', 'foo/', '/foo', 'foo:', 'foo:-x', 'foo:a b', 'foo@sha256:abc',
    `foo@md5:${hex}`, 'foo/-bar', 'a..b', 'x'.repeat(256), 'bad_host:5000:x/y', 'foo bar']
  for (const s of bad) {
    assert.throws(() => parseImageRef(s), (e: unknown) => isHangarError(e) && e.code === 'invalid_image_ref', s)
  }
})
