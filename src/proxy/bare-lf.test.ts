import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fixHead, headState } from './bare-lf.ts'

const fix = (...chunks: string[]): string => {
  const s = headState()
  return chunks.map((c) => fixHead(s, Buffer.from(c)).toString('latin1')).join('')
}

test('a well-formed head comes back as the same buffer', () => {
  const b = Buffer.from('HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody\n')
  assert.equal(fixHead(headState(), b), b)
})

test('bare LFs in the head get a CR; the body keeps its LFs', () => {
  assert.equal(fix('HTTP/1.1 200 OK\r\nContent-Type: text/plain\nX: y\n\nline1\nline2\n'), 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX: y\r\n\r\nline1\nline2\n')
})

test('a head split across chunks, CR and LF in different chunks', () => {
  assert.equal(fix('HTTP/1.1 200 OK\r', '\nA: b\n', '\nbody\n'), 'HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody\n')
})

test('a 100 Continue head is followed by the real head', () => {
  assert.equal(fix('HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nA: b\n\nx\n'), 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: b\r\n\r\nx\n')
})

test('a head arriving a byte at a time, CRLF and bare LF mixed, then a 1xx split at its status digit', () => {
  const head = 'HTTP/1.1 103 Early Hints\nLink: </a>\r\n\nHTTP/1.1 204 No Content\r\nA: b\n\r\n'
  assert.equal(fix(...head.split('')), 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\nA: b\r\n\r\n')
  assert.equal(fix('HTTP/1.1 1', '00 Continue\n\nHTTP/1.1 200 OK\n\nbody\nmore\n'), 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nbody\nmore\n')
})

test('a blank first line is not read as a 1xx head: the bytes after it are left for the client to refuse', () => {
  assert.equal(fix('\r\nHTTP/1.1 200 OK\nA: b\n\nok'), '\r\nHTTP/1.1 200 OK\nA: b\n\nok')
})

test('a line of only CRs ends the head, as a CRLF would', () => {
  assert.equal(fix('HTTP/1.1 200 OK\r\nA: b\r\n\r\r\nbody\n'), 'HTTP/1.1 200 OK\r\nA: b\r\n\r\r\nbody\n')
})
