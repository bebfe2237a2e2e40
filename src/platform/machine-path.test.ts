import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isHangarError } from '../errors.ts'
import { machinePath, namesDirectory } from './machine-path.ts'

test('absolute paths are normalised and .. stops at the root', () => {
  assert.equal(machinePath('/etc/hostname'), '/etc/hostname')
  assert.equal(machinePath('/a//b/./c/'), '/a/b/c')
  assert.equal(machinePath('/../../etc/passwd'), '/etc/passwd')
  assert.equal(machinePath('/a/b/../../../..'), '/')
  assert.equal(machinePath('/'), '/')
})

test('relative paths resolve against workingDir, default /', () => {
  assert.equal(machinePath('app.py'), '/app.py')
  assert.equal(machinePath('src/../app.py', '/srv'), '/srv/app.py')
  assert.equal(machinePath('../../../../x', '/srv/www'), '/x')
  assert.equal(machinePath('/abs', '/srv'), '/abs')
  assert.equal(machinePath('.', '/srv/'), '/srv')
})

test('empty, NUL-carrying, overlong paths and a relative workingDir are refused', () => {
  for (const [p, wd] of [['', undefined], [undefined, undefined], ['a\0b', undefined], ['x'.repeat(5000), undefined], ['a', 'relative/dir'], [42, undefined]] as const) {
    assert.throws(() => machinePath(p, wd), (e) => isHangarError(e) && e.code === 'invalid_argument', String(p).slice(0, 20))
  }
})

test('a trailing slash names a directory', () => {
  assert.ok(namesDirectory('/srv/www/'))
  assert.ok(!namesDirectory('/srv/www'))
  assert.ok(!namesDirectory('/'))
})
