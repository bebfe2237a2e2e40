/**
 * The local image store: an OCI image layout on disk (blobs + index.json tags)
 * with a shared layer cache beside it. Implements the ImageStore interface the
 * platform uses; everything is read from disk, so a restart loses nothing.
 */
import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { HangarError, isHangarError } from '../errors.ts'
import { ContentStore } from './content-store.ts'
import { collectGarbage, staleIngestMs } from './gc.ts'
import { planImport } from './import.ts'
import { configSchema, imageConfigOf, indexSchema, isIndex, manifestSchema, parseDocument, refNameAnnotation, type Descriptor } from './oci.ts'
import { formatRef, isDigest, parseImageRef, repositoryName } from './ref.ts'
import { TagIndex, importedAnnotation } from './tag-index.ts'
import type { GcOptions, GcResult, ImageRecord, ImageStore, ParsedRef } from './types.ts'
import { LayerCache } from './unpack.ts'
import { OwnHosts } from './own-hosts.ts'
import { RemoteTargets } from './targets.ts'

export interface ImageStoreOptions {
  /** Directory of the store; it becomes an OCI image layout. */
  root: string
  /** This Hangar's own registry addresses: references on them name the local store. Filled in once the API listens. */
  own?: OwnHosts
  /**
   * Loopback, private, link-local or other special address blocks pulls and pushes may reach anyway
   * (CIDR); default none: a registry on the host or its LAN is refused (pull_target_not_allowed).
   */
  pullAllow?: readonly string[]
}

/** What a manifest says, read once: manifests and configs never change under their digest. */
interface ImageFacts {
  size: number
  created: string | undefined
  config: ImageRecord['config']
  layers: string[]
  diffIds: string[]
}

const unpackParallelism = 4

/**
 * Opens (creating if needed) the image store under `root`.
 *
 *   const images = await openImageStore({ root: '/var/lib/hangar/images' })
 *   const [img] = await images.importFile('busybox.oci.tar')
 */
export async function openImageStore(opts: ImageStoreOptions): Promise<ImageStore> {
  const content = await ContentStore.open(opts.root)
  const layers = new LayerCache(content)
  await layers.init()
  await pruneIngest(content.ingestDir)
  return new LocalImageStore(content, new TagIndex(opts.root), layers, opts.own ?? new OwnHosts(), new RemoteTargets(opts.pullAllow))
}

class LocalImageStore implements ImageStore {
  readonly content: ContentStore
  readonly tags: TagIndex
  readonly own: OwnHosts
  readonly targets: RemoteTargets
  #content: ContentStore
  #tags: TagIndex
  #layers: LayerCache
  #facts = new Map<string, ImageFacts>()

  constructor(content: ContentStore, tags: TagIndex, layers: LayerCache, own: OwnHosts, targets: RemoteTargets) {
    this.own = own
    this.targets = targets
    this.content = this.#content = content
    this.tags = this.#tags = tags
    this.#layers = layers
  }

  /** Holds the store lock throughout: the plan skips blobs already present, which gc must not take meanwhile. */
  importFile(path: string, opts: { tag?: string } = {}): Promise<ImageRecord[]> {
    return this.#content.lock.shared(() => this.#import(path, opts))
  }

  async #import(path: string, opts: { tag?: string }): Promise<ImageRecord[]> {
    const { plan, cleanup } = await planImport(this.#content, path)
    try {
      if (opts.tag !== undefined && plan.images.length > 1) {
        throw new HangarError('invalid_argument', `${path} holds ${plan.images.length} images; a tag can name only one`)
      }
      const named = plan.images.map((img) => {
        const names = (opts.tag !== undefined ? [opts.tag] : img.names).map((n) => tagName(n, this.own))
        if (names.length === 0) throw new HangarError('invalid_argument', `image ${img.manifest.digest} in ${path} has no name`, { hint: 'pass a tag, e.g. `hangar image import FILE --tag name:1`' })
        return { names, manifest: img.manifest }
      })
      await plan.commit()
      const records: ImageRecord[] = []
      for (const img of named) {
        for (const name of img.names) {
          await this.#tags.set(name, img.manifest)
          records.push(await this.#record({ ...img.manifest, annotations: { [refNameAnnotation]: name } }))
        }
      }
      return records
    } catch (e) {
      await plan.abort()
      throw e
    } finally {
      await cleanup()
    }
  }

  async resolve(ref: string): Promise<ImageRecord> {
    const entries = await this.#tags.entries()
    let match: Descriptor | undefined
    if (isDigest(ref)) {
      match = entries.find((d) => d.digest === ref)
    } else {
      const find = (p: ParsedRef): Descriptor | undefined => {
        const repo = repositoryName(p)
        return p.digest
          ? entries.find((d) => d.digest === p.digest && nameOf(d)?.startsWith(`${repo}:`))
          : entries.find((d) => nameOf(d) === `${repo}:${p.tag}`)
      }
      // On our own registry's address: the local name, else one stored under the full name (pulled from ourselves before).
      const p = parseImageRef(ref)
      const local = this.own.local(p)
      match = find(local) ?? (local !== p ? find(p) : undefined)
    }
    if (!match) throw new HangarError('image_not_found', `image ${ref} not found`)
    return this.#record(match)
  }

  async list(): Promise<ImageRecord[]> {
    const out: ImageRecord[] = []
    for (const d of await this.#tags.entries()) {
      // Entries another tool wrote with a name we cannot parse are not ours to show.
      if (nameOf(d) === undefined) continue
      // Pushed to /v2 but not something Hangar can run (another platform, an artifact): not an image here.
      // Nor is one broken entry (an index whose child was deleted) a reason to hide every other image.
      const rec = await this.#record(d).catch(() => null)
      if (rec) out.push(rec)
    }
    return out
  }

  async remove(ref: string): Promise<void> {
    if (isDigest(ref) || parseImageRef(ref).tag === '') {
      // By digest: every tag of that image (of that repository, when one is named).
      const p = isDigest(ref) ? null : this.own.local(parseImageRef(ref))
      const digest = p ? p.digest : ref
      const tagged = (await this.#tags.entries())
        .filter((d) => d.digest === digest && (p === null || nameOf(d)?.startsWith(`${repositoryName(p)}:`)))
      if (tagged.length === 0) throw new HangarError('image_not_found', `image ${ref} not found`)
      for (const d of tagged) await this.#tags.remove(d.annotations![refNameAnnotation]!)
      return
    }
    if (!(await this.#tags.remove(tagName(ref, this.own))) && !(await this.#tags.remove(tagName(ref)))) throw new HangarError('image_not_found', `image ${ref} not found`)
  }

  async gc(opts?: GcOptions): Promise<GcResult> {
    const { removed, ...result } = await collectGarbage(this.#content, this.#tags, this.#layers, opts)
    for (const d of removed) this.#facts.delete(d)
    return result
  }

  unpack(image: ImageRecord): Promise<string[]> {
    return this.#content.lock.shared(() => this.#unpack(image))
  }

  async #unpack(image: ImageRecord): Promise<string[]> {
    const facts = await this.#factsOf(image.digest)
    // A few layers at a time: each is a tar process and a full read of the blob.
    const dirs: string[] = new Array(facts.layers.length)
    let next = 0
    const worker = async (): Promise<void> => {
      for (let i = next++; i < facts.layers.length; i = next++) dirs[i] = await this.#layers.unpack(facts.layers[i]!, facts.diffIds[i])
    }
    await Promise.all(Array.from({ length: Math.min(unpackParallelism, facts.layers.length) }, worker))
    return dirs
  }

  async #record(d: Descriptor): Promise<ImageRecord> {
    const p = parseImageRef(d.annotations?.[refNameAnnotation] ?? '')
    const f = await this.#factsOf(d.digest)
    return {
      ref: formatRef(p),
      repository: repositoryName(p),
      tag: p.tag,
      digest: d.digest,
      size: f.size,
      created: f.created ?? d.annotations?.[importedAnnotation] ?? new Date().toISOString(),
      config: f.config,
      layers: f.layers,
    }
  }

  async #factsOf(digest: string): Promise<ImageFacts> {
    const cached = this.#facts.get(digest)
    if (cached) return cached
    const manifest = parseDocument(manifestSchema, await this.#content.read(await this.#platformManifest(digest)), `manifest ${digest}`)
    const config = parseDocument(configSchema, await this.#content.read(manifest.config.digest), `config ${manifest.config.digest}`)
    const facts: ImageFacts = {
      size: manifest.layers.reduce((n, l) => n + l.size, 0),
      created: config.created,
      config: imageConfigOf(config),
      layers: manifest.layers.map((l) => l.digest),
      diffIds: config.rootfs.diff_ids,
    }
    this.#facts.set(digest, facts)
    return facts
  }

  /** An image index (pushed to /v2 or pulled) stands for its linux/amd64 manifest. */
  async #platformManifest(digest: string, depth = 0): Promise<string> {
    const bytes = await this.#content.read(digest)
    let doc: { mediaType?: string; manifests?: unknown }
    try {
      doc = JSON.parse(bytes.toString())
    } catch {
      return digest // the manifest parse that follows reports it
    }
    if (!isIndex(doc.mediaType) && !(doc.mediaType === undefined && Array.isArray(doc.manifests))) return digest
    const index = parseDocument(indexSchema, bytes, `image index ${digest}`)
    const child = index.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64')
    if (!child || depth > 2) throw new HangarError('invalid_argument', `image index ${digest} has no linux/amd64 manifest`)
    return this.#platformManifest(child.digest, depth + 1)
  }
}

/** "busybox" → "busybox:latest"; a name with only a digest cannot be a tag. On our own address, the local name. */
function tagName(name: string, own?: OwnHosts): string {
  const parsed = parseImageRef(name)
  const p = own ? own.local(parsed) : parsed
  if (p.tag === '') throw new HangarError('invalid_image_ref', `"${name}" has no tag to store the image under`)
  return formatRef({ ...p, digest: null })
}

function nameOf(d: Descriptor): string | undefined {
  const n = d.annotations?.[refNameAnnotation]
  if (n === undefined) return undefined
  try {
    return tagName(n)
  } catch {
    return undefined
  }
}

async function pruneIngest(dir: string): Promise<void> {
  const now = Date.now()
  for (const name of await readdir(dir)) {
    const st = await stat(join(dir, name)).catch(() => null)
    if (st && now - st.mtimeMs > staleIngestMs) await rm(join(dir, name), { recursive: true, force: true })
  }
}
