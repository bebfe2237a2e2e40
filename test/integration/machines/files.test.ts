/**
 * Files in a machine through the REST API (the SDK), running or stopped, on real runc: what the
 * API writes the app sees, what the machine writes the API reads; symlinks and `..` never reach
 * the host (a sentinel in the host's /tmp is neither read nor written); modes and owners land as
 * the machine numbers them; tar goes down and up; POSIX errors carry their errno; a write past
 * the machine's disk is a clear error.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { daemonWithBusybox, httpGet, refusedWith } from '../../support/machines.ts'

const MiB = 2 ** 20

test('the files API', { timeout: 240_000 }, async (t) => {
  const d = await daemonWithBusybox(t)
  const hm = d.client.machines
  const fs = hm.fs
  const sh = async (id: string, cmd: string): Promise<string> => {
    const r = await hm.exec(d.app, id, { cmd })
    assert.equal(r.exit_code, 0, `${cmd}: ${r.stderr}`)
    return r.stdout
  }

  await t.test('a file written to a machine that has never run is what its app serves once started', async () => {
    const m = await hm.create(d.app, { skip_launch: true, config: { image: d.image } })
    assert.equal(m.state, 'created')
    const w = await fs.write(d.app, m.id, '/www/index.html', 'written while stopped\n')
    assert.deepEqual(w, { path: '/www/index.html', size: 22, mode: '0644' })
    await fs.write(d.app, m.id, 'deep/er/note.txt', 'n', { workingDir: '/www', mkdirParents: true })
    await hm.start(d.app, m.id)
    const fresh = await hm.get(d.app, m.id)
    assert.equal((await httpGet(`http://${fresh.private_ip}:8080/`)).body, 'written while stopped\n')
    assert.equal(await sh(m.id, 'cat /www/deep/er/note.txt'), 'n')
    await hm.destroy(d.app, m.id, { force: true })
  })

  const m = await hm.create(d.app, { config: { image: d.image } })

  await t.test('what a running machine writes the API reads, byte for byte; a stopped one too', async () => {
    await sh(m.id, 'printf "made inside\\n" > /inside.txt; head -c 300000 /dev/urandom > /random.bin')
    assert.equal(await fs.readText(d.app, m.id, '/inside.txt'), 'made inside\n')
    const sum = (await sh(m.id, 'md5sum /random.bin')).split(' ')[0]
    const bytes = await fs.read(d.app, m.id, '/random.bin')
    assert.equal(bytes.length, 300000)
    const { createHash } = await import('node:crypto')
    assert.equal(createHash('md5').update(bytes).digest('hex'), sum)
    await hm.stop(d.app, m.id)
    assert.equal(await fs.readText(d.app, m.id, 'inside.txt', { workingDir: '/' }), 'made inside\n')
    // After a reboot the overlay is gone: the files API mounts it again, as start would.
    const mountPoint = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).find((p) => p?.endsWith(`/roots/${m.id}/fs`))
    assert.ok(mountPoint, 'the stopped machine keeps its overlay mounted')
    execFileSync('umount', [mountPoint])
    assert.equal(await fs.readText(d.app, m.id, '/inside.txt'), 'made inside\n')
    await hm.start(d.app, m.id)
    assert.equal(await sh(m.id, 'cat /inside.txt'), 'made inside\n')
  })

  await t.test('symlinks and .. resolve inside the machine: the host sentinel is never read or written', async () => {
    const hostDir = mkdtempSync(join(tmpdir(), 'hangar-sentinel-'))
    const sentinel = join(hostDir, 'secret')
    writeFileSync(sentinel, 'HOST SECRET\n')
    t.after(() => rmSync(hostDir, { recursive: true, force: true }))
    await sh(m.id, [
      'echo machine-marker > /etc/marker',
      'ln -s / /escape',
      'ln -s ../../../../../../../etc /x',
      `ln -s ${sentinel} /abs-file`,
      `ln -s ${hostDir} /abs-dir`,
      `ln -s ../../../../../../..${hostDir} /rel-dir`,
    ].join(' && '))
    for (const state of ['started', 'stopped'] as const) {
      if (state === 'stopped') await hm.stop(d.app, m.id)
      assert.equal(await fs.readText(d.app, m.id, '/escape/etc/marker'), 'machine-marker\n', state)
      assert.equal(await fs.readText(d.app, m.id, '/x/marker'), 'machine-marker\n', state)
      assert.equal(await fs.readText(d.app, m.id, '/../../../../etc/marker'), 'machine-marker\n', state)
      assert.equal(await fs.readText(d.app, m.id, '../../etc/marker', { workingDir: '/www' }), 'machine-marker\n', state)
      // The host's file is at that path on the host only: in the machine there is nothing.
      for (const p of ['/abs-file', `/escape${sentinel}`, '/abs-dir/secret', '/rel-dir/secret', `/x/../../../..${sentinel}`]) {
        const e = await refusedWith(fs.read(d.app, m.id, p), 'file_not_found')
        assert.equal(e.details?.errno, 'ENOENT', p)
      }
      const root = (await fs.list(d.app, m.id, '/escape/')).entries.map((e) => e.name)
      assert.ok(root.includes('www') && !root.includes('work'), `lists the machine's root, not the host's: ${root.join(' ')}`)
      if (state === 'stopped') await hm.start(d.app, m.id)
    }
    // Writing through a directory symlink to a host path lands in the machine's copy of that path.
    await sh(m.id, `mkdir -p ${hostDir}`)
    await fs.write(d.app, m.id, '/abs-dir/secret', 'written by the API\n')
    await fs.write(d.app, m.id, '/rel-dir/other', 'x')
    await fs.write(d.app, m.id, `/../../..${hostDir}/third`, 'y')
    // A symlinked file is replaced (atomic rename), never followed out.
    await fs.write(d.app, m.id, '/abs-file', 'replaced the link\n')
    assert.equal(await sh(m.id, `cat ${hostDir}/secret; ls ${hostDir}; cat /abs-file`), `written by the API\nother\nsecret\nthird\nreplaced the link\n`)
    assert.equal(readFileSync(sentinel, 'utf8'), 'HOST SECRET\n')
    assert.deepEqual((await import('node:fs')).readdirSync(hostDir), ['secret'])
    // tar of the machine's / through the link holds the machine's files, not the host's.
    const names = await tarNames(await fs.tarDown(d.app, m.id, '/escape/etc'))
    assert.ok(names.includes('./marker'), names.join(' '))
  })

  await t.test('mode and owner land as the machine numbers them', async () => {
    const w = await fs.write(d.app, m.id, '/srv/tool.sh', '#!/bin/sh\necho tool ran\n', { mode: '0755', mkdirParents: true })
    assert.equal(w.mode, '0755')
    await fs.chown(d.app, m.id, '/srv/tool.sh', { uid: 1000, gid: 1000 })
    assert.equal(await sh(m.id, 'stat -c "%u %g %a" /srv/tool.sh; /srv/tool.sh'), '1000 1000 755\ntool ran\n')
    await fs.chmod(d.app, m.id, '/srv', '0700', { recursive: true })
    await fs.chown(d.app, m.id, '/srv', { gid: 50 }, { recursive: true })
    assert.equal(await sh(m.id, 'stat -c "%u %g %a" /srv /srv/tool.sh'), '0 50 700\n1000 50 700\n')
    // Rewriting keeps the owner and mode unless told otherwise.
    await fs.write(d.app, m.id, '/srv/tool.sh', '#!/bin/sh\necho v2\n')
    assert.equal(await sh(m.id, 'stat -c "%u %g %a" /srv/tool.sh'), '1000 50 700\n')
    // chmod and chown follow a symlink they are named by, inside the machine.
    await sh(m.id, 'ln -s /srv/tool.sh /tool-link')
    await fs.chmod(d.app, m.id, '/tool-link', 0o711)
    assert.equal(await sh(m.id, 'stat -c "%a" /srv/tool.sh'), '711\n')
    await fs.chmod(d.app, m.id, '/srv/tool.sh', '0700')
    const [entry] = (await fs.list(d.app, m.id, '/srv/tool.sh')).entries
    assert.deepEqual([entry?.name, entry?.type, entry?.mode, entry?.uid, entry?.gid, entry?.isDir], ['tool.sh', 'file', '0700', 1000, 50, false])
  })

  await t.test('rename, copy, list with a limit, delete', async () => {
    await sh(m.id, 'mkdir -p /proj/a/b && echo 1 > /proj/a/one && echo 2 > /proj/a/b/two && ln -s one /proj/a/link')
    await fs.copy(d.app, m.id, '/proj/a', '/proj/c', { recursive: true })
    await fs.rename(d.app, m.id, 'c', 'd', { workingDir: '/proj' })
    assert.equal(await sh(m.id, 'cat /proj/d/one /proj/d/b/two; readlink /proj/d/link'), '1\n2\none\n')
    const all = await fs.list(d.app, m.id, '/proj', { recursive: true })
    assert.deepEqual(all.entries.map((e) => e.path).sort(), ['/proj/a', '/proj/a/b', '/proj/a/b/two', '/proj/a/link', '/proj/a/one', '/proj/d', '/proj/d/b', '/proj/d/b/two', '/proj/d/link', '/proj/d/one'])
    assert.equal(all.truncated, false)
    assert.equal(all.entries.find((e) => e.path === '/proj/a/link')?.target, 'one')
    const some = await fs.list(d.app, m.id, '/proj', { recursive: true, limit: 3 })
    assert.deepEqual([some.count, some.truncated], [3, true])
    assert.deepEqual((await fs.list(d.app, m.id, '/proj/a', { pattern: 'o*' })).entries.map((e) => e.name), ['one'])
    const gone = await fs.delete(d.app, m.id, '/proj/d', { recursive: true })
    assert.equal(gone.count, 5)
    assert.equal(gone.deleted.at(-1), '/proj/d')
    await refusedWith(fs.delete(d.app, m.id, '/'), 'invalid_argument')
  })

  await t.test('tar down and up: nested dirs, a symlink, modes and owners survive the round trip', async () => {
    await sh(m.id, 'mkdir -p /tree/x/y && echo deep > /tree/x/y/f && chmod 750 /tree/x/y/f && chown 1000:1000 /tree/x/y/f && ln -s x/y/f /tree/link && echo top > /tree/top')
    const archive = Buffer.concat(await chunks(await fs.tarDown(d.app, m.id, '/tree')))
    assert.ok((await tarNames(new Blob([archive]).stream())).includes('./x/y/f'))
    await fs.tarUp(d.app, m.id, '/copy/of/tree', archive, { mkdirParents: true })
    const show = 'cd %s && find . | sort && stat -c "%%a %%u %%g" x/y/f && readlink link && cat link'
    assert.equal(await sh(m.id, show.replace('%s', '/copy/of/tree').replaceAll('%%', '%')), await sh(m.id, show.replace('%s', '/tree').replaceAll('%%', '%')))
    // Up into a stopped machine works too.
    await hm.stop(d.app, m.id)
    await fs.tarUp(d.app, m.id, '/while-stopped', archive, { mkdirParents: true })
    await hm.start(d.app, m.id)
    assert.equal(await sh(m.id, 'cat /while-stopped/x/y/f'), 'deep\n')
    await refusedWith(fs.tarDown(d.app, m.id, '/tree/top'), 'not_a_directory')
  })

  await t.test('POSIX errors carry their errno and HTTP status', async () => {
    await sh(m.id, 'mkdir -p /full/dir && touch /full/dir/f')
    const cases: [() => Promise<unknown>, string, string][] = [
      [() => fs.read(d.app, m.id, '/no/such/file'), 'file_not_found', 'ENOENT'],
      [() => fs.read(d.app, m.id, '/full'), 'is_a_directory', 'EISDIR'],
      [() => fs.delete(d.app, m.id, '/full/dir'), 'directory_not_empty', 'ENOTEMPTY'],
      [() => fs.write(d.app, m.id, '/full/dir/f/under', 'x'), 'not_a_directory', 'ENOTDIR'],
      [() => fs.copy(d.app, m.id, '/full/dir/f', '/full/dir/f'), 'file_exists', 'EEXIST'],
      [() => fs.write(d.app, m.id, '/no/parent/here', 'x'), 'file_not_found', 'ENOENT'],
    ]
    for (const [call, code, errno] of cases) assert.equal((await refusedWith(call(), code)).details?.errno, errno, code)
    assert.equal(await sh(m.id, 'ls /full/dir'), 'f\n', 'a refused delete removed nothing')
    const res = await fetch(`${d.url}/v1/apps/${d.app}/machines/${m.id}/fs/read?path=/no/such/file`, { headers: { authorization: `Bearer ${d.token}` } })
    assert.equal(res.status, 404)
    const body = (await res.json()) as { code: string; details: { errno: string; path: string } }
    assert.deepEqual([body.code, body.details], ['file_not_found', { errno: 'ENOENT', path: '/no/such/file' }])
    const ok = await fetch(`${d.url}/v1/apps/${d.app}/machines/${m.id}/fs/read?path=/etc/marker`, { headers: { authorization: `Bearer ${d.token}` } })
    assert.equal(ok.headers.get('content-type'), 'application/octet-stream')
    await refusedWith(fs.read(d.app, 'nosuchmachine', '/etc/marker'), 'machine_not_found')
  })

  await t.test('a write past the machine\'s disk is machine_disk_full and leaves no temp file', async () => {
    let sent = 0
    const big = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 320 * MiB) return c.close()
        sent += MiB
        c.enqueue(new Uint8Array(MiB).fill(7))
      },
    })
    const e = await refusedWith(fs.write(d.app, m.id, '/big.bin', big), 'machine_disk_full')
    assert.equal(e.status, 507)
    assert.match(String(e.details?.errno), /^(EDQUOT|ENOSPC)$/)
    assert.match(e.message, /disk is full/)
    assert.deepEqual((await fs.list(d.app, m.id, '/')).entries.filter((x) => x.name.startsWith('.hangar-write') || x.name === 'big.bin'), [])
    // The machine's disk has room again: ordinary writes go on.
    await fs.write(d.app, m.id, '/after.txt', 'fine')
    assert.equal(await sh(m.id, 'cat /after.txt'), 'fine')
  })
})

async function chunks(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) out.push(c)
  return out
}

/** Entry names of a plain tar archive (ustar headers every 512 bytes). */
async function tarNames(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const buf = Buffer.concat(await chunks(stream))
  const names: string[] = []
  for (let off = 0; off + 512 <= buf.length;) {
    const header = buf.subarray(off, off + 512)
    if (header.every((b) => b === 0)) break
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '')
    const prefix = header.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '')
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8)
    names.push(prefix ? `${prefix}/${name}` : name)
    off += 512 + Math.ceil(size / 512) * 512
  }
  return names.map((n) => n.replace(/\/$/, ''))
}
