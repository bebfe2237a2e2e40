import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hostSources, imageSources, parseDeb822, parseSourcesList } from './apt-sources.ts'

const debian12 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
`

test('deb822 stanzas: comments skipped, disabled ones dropped', () => {
  assert.deepEqual(parseDeb822(debian12), [
    { uri: 'http://mirror.example/debian', suites: ['bookworm', 'bookworm-updates'] },
    { uri: 'http://mirror.example/debian-security', suites: ['bookworm-security'] },
  ])
})

test('one-line sources: options and comments ignored, deb-src skipped', () => {
  const text = '# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://a.example/debian bookworm main\ndeb-src http://b.example/debian bookworm main\n'
  assert.deepEqual(parseSourcesList(text), [{ uri: 'http://a.example/debian', suites: ['bookworm'] }])
})

test('the image points at the host archive, with updates and security', () => {
  assert.deepEqual(imageSources(parseDeb822(debian12), 'bookworm'), [
    'deb http://mirror.example/debian bookworm main',
    'deb http://mirror.example/debian bookworm-updates main',
    'deb http://mirror.example/debian-security bookworm-security main',
  ])
})

test('no host sources: deb.debian.org; sid has no updates or security suite; a mirror overrides', () => {
  assert.equal(imageSources([], 'bookworm')[0], 'deb http://deb.debian.org/debian bookworm main')
  assert.deepEqual(imageSources([], 'sid', 'https://m.example/debian/'), ['deb https://m.example/debian sid main'])
  assert.throws(() => imageSources([], 'bookworm', 'file:///srv/debian'), /http\(s\) URL/)
})

test('hostSources reads .sources and .list files and keeps only http(s) archives', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hangar-apt-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'sources.list.d'))
  await writeFile(join(dir, 'sources.list.d', 'debian.sources'), debian12)
  await writeFile(join(dir, 'sources.list'), 'deb cdrom:[Debian]/ bookworm main\ndeb http://c.example/debian bookworm main\n')
  assert.deepEqual((await hostSources(dir)).map((s) => s.uri), ['http://mirror.example/debian', 'http://mirror.example/debian-security', 'http://c.example/debian'])
})
