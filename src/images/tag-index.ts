/**
 * The store's tags, kept where OCI tools look for them: the layout's index.json,
 * one manifest descriptor per tag with the tag in `org.opencontainers.image.ref.name`.
 * That is what lets `skopeo copy oci:<root>:busybox:latest …` read the store.
 * Changes are serialised in-process and written via temp file + rename, so a
 * crash leaves either the old index or the new one.
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { indexSchema, mediaTypes, parseDocument, refNameAnnotation, type Descriptor } from './oci.ts'

/** When the tag was set; the import time ImageRecord.created falls back to. */
export const importedAnnotation = 'io.hangar.image.imported'

export class TagIndex {
  #file: string
  #queue: Promise<unknown> = Promise.resolve()

  constructor(root: string) {
    this.#file = join(root, 'index.json')
  }

  /** Every tagged manifest descriptor, in index order. */
  async entries(): Promise<Descriptor[]> {
    let bytes: Buffer
    try {
      bytes = await readFile(this.#file)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw e
    }
    return parseDocument(indexSchema, bytes, this.#file).manifests
  }

  /** Points `ref` at the manifest, replacing what it pointed at before. */
  set(ref: string, manifest: Pick<Descriptor, 'digest' | 'size' | 'mediaType'>, now = new Date()): Promise<void> {
    return this.#update((list) => {
      const kept = list.filter((d) => d.annotations?.[refNameAnnotation] !== ref)
      const desc: Descriptor = {
        mediaType: manifest.mediaType,
        digest: manifest.digest,
        size: manifest.size,
        annotations: { [refNameAnnotation]: ref, [importedAnnotation]: now.toISOString() },
      }
      return [...kept, desc]
    })
  }

  /** Drops the tag; returns false when it was not there. */
  async remove(ref: string): Promise<boolean> {
    let found = false
    await this.#update((list) => {
      const kept = list.filter((d) => d.annotations?.[refNameAnnotation] !== ref)
      found = kept.length !== list.length
      return kept
    })
    return found
  }

  #update(change: (list: Descriptor[]) => Descriptor[]): Promise<void> {
    const run = async (): Promise<void> => {
      const next = change(await this.entries())
      const doc = { schemaVersion: 2, mediaType: mediaTypes.index, manifests: next }
      const tmp = `${this.#file}.${randomBytes(6).toString('hex')}.tmp`
      const fh = await open(tmp, 'wx', 0o644)
      try {
        await fh.writeFile(JSON.stringify(doc, null, 2) + '\n')
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, this.#file).catch(async (e: unknown) => {
        await rm(tmp, { force: true })
        throw e
      })
    }
    const p = this.#queue.then(run, run)
    this.#queue = p.catch(() => {})
    return p
  }
}
