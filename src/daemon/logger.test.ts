import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { createLogger, type LogFormat } from './logger.ts'

function capture(format: LogFormat, isTTY: boolean): { lines: () => string[]; log: ReturnType<typeof createLogger> } {
  const out = Object.assign(new PassThrough(), { isTTY })
  let text = ''
  out.on('data', (d: Buffer) => (text += d))
  const log = createLogger({ level: 'info', format, out })
  return { lines: () => text.split('\n').filter(Boolean), log }
}

// eslint-disable-next-line no-control-regex
const plain = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '')

test('on a terminal, auto prints one readable line: time, level, message, the key fields', () => {
  const { lines, log } = capture('auto', true)
  log.info({ url: 'http://127.0.0.1:4280', driver: 'runc' }, 'hangard listening')
  log.debug('below the level')
  const [line, ...rest] = lines()
  assert.equal(rest.length, 0)
  assert.match(plain(line!), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: hangard listening \{"url":"http:\/\/127\.0\.0\.1:4280","driver":"runc"\}$/)
})

test('not on a terminal, or with json asked for, every line is a JSON object', () => {
  for (const [format, tty] of [['auto', false], ['json', true]] as const) {
    const { lines, log } = capture(format, tty)
    log.warn({ code: 'unavailable' }, 'could not build')
    const rec = JSON.parse(lines()[0]!)
    assert.equal(rec.msg, 'could not build')
    assert.equal(rec.code, 'unavailable')
    assert.equal(rec.level, 40)
  }
})

test('pretty is readable even into a pipe, without colour codes', () => {
  const { lines, log } = capture('pretty', false)
  log.error('boom')
  assert.match(lines()[0]!, /^\[[\d:.]+\] ERROR: boom$/)
})
