import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseListing, typeLetter } from './gnu-listing.ts'

test('tar -tv lines in C quoting decode to type, path and link target', () => {
  assert.deepEqual(parseListing('-rw-r--r-- 0/0               3 2026-11-23 15:32:36 "./a b\\"c"'), { type: '-', path: './a b"c' })
  assert.deepEqual(parseListing('hrw-r--r-- 0/0               0 2026-11-23 15:32:36 "./hl" link to "./a b\\"c"'), { type: 'h', path: './hl', link: './a b"c' })
  assert.deepEqual(parseListing('lrwxrwxrwx 0/0               0 2026-11-23 15:32:36 "./sl" -> "../x y"'), { type: 'l', path: './sl', link: '../x y' })
  assert.deepEqual(parseListing('crw-r--r-- 0/0             1,3 2026-11-23 15:32:36 "./cdev"'), { type: 'c', path: './cdev' })
})

test('octal escapes are bytes: UTF-8 names decode, invalid bytes become U+FFFD as node-tar reads them', () => {
  assert.equal(parseListing('-rw-r--r-- 0/0 2 2026-11-23 15:32:36 "./\\303\\274n\\303\\257"')?.path, './ünï')
  assert.equal(parseListing('-rw-r--r-- 0/0 1 2026-11-23 15:32:36 "./bad\\377name"')?.path, './bad\uFFFDname')
  assert.equal(parseListing('-rw-r--r-- 0/0 1 2026-11-23 15:32:36 "tab\\there\\nnl\\\\"')?.path, 'tab\there\nnl\\')
})

test('lines that are not listings, or are cut short, are null', () => {
  assert.equal(parseListing('tar: A lone zero block at 3'), null)
  assert.equal(parseListing('-rw-r--r-- 0/0 1 2026-11-23 15:32:36 "unterminated'), null)
  assert.equal(parseListing('-rw-r--r-- 0/0 1 2026-11-23 15:32:36 "bad \\q escape"'), null)
})

test('node-tar types map to the letters GNU tar lists', () => {
  assert.deepEqual(['File', 'OldFile', 'Directory', 'SymbolicLink', 'Link', 'CharacterDevice', 'BlockDevice', 'FIFO', 'GNUDumpDir'].map(typeLetter), ['-', '-', 'd', 'l', 'h', 'c', 'b', 'p', '?'])
})
