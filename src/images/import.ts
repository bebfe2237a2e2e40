/**
 * Reads an image out of an OCI archive (tar or tar.gz of an OCI layout), an
 * OCI layout directory, or a `docker save` tarball, into an ImportPlan whose
 * blobs are all verified and staged. The caller names the images and commits.
 *
 *   const plan = await planImport(content, 'busybox.oci.tar')
 *   try { …; await plan.commit() } catch (e) { await plan.abort(); throw e }
 */
import { readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import * as tar from 'tar'
import { HangarError, isHangarError } from '../errors.ts'
import type { ContentStore } from './content-store.ts'
import { planDockerArchive } from './docker-archive.ts'
import { ImportPlan, blobPath, type ImportSource } from './import-plan.ts'
import {
  configSchema, containerdNameAnnotation, indexSchema, isIndex, manifestSchema, parseDocument, refNameAnnotation, type Descriptor,
} from './oci.ts'

/** Layer media types Hangar can unpack (compression is detected from the bytes). */
const layerType = /^application\/vnd\.(oci\.image\.layer\.v1\.tar|docker\.image\.rootfs\.diff\.tar)(\+gzip|\.gzip|\+zstd)?$/

/**
 * Stages every blob of the images in `path`. `cleanup` removes the staging copy
 * of an archive; call it after commit() or abort().
 */
export async function planImport(content: ContentStore, path: string): Promise<{ plan: ImportPlan; cleanup: () => Promise<void> }> {
  const st = await stat(path).catch((e: unknown) => {
    throw new HangarError('invalid_argument', `cannot read ${path}: ${(e as Error).message}`, { cause: e })
  })
  let source: ImportSource
  let cleanup = async (): Promise<void> => {}
  if (st.isDirectory()) {
    source = { dir: path, owned: false, links: new Map() }
  } else {
    const dir = await content.tempDir('import')
    cleanup = () => rm(dir, { recursive: true, force: true })
    try {
      source = { dir, owned: true, links: await extractArchive(path, dir) }
    } catch (e) {
      await cleanup()
      throw e
    }
  }
  const plan = new ImportPlan(content, source)
  try {
    if (await exists(join(source.dir, 'index.json'))) await planOciLayout(plan)
    else if (await exists(join(source.dir, 'manifest.json'))) await planDockerArchive(plan)
    else throw new HangarError('invalid_argument', `${path} is neither an OCI layout (index.json) nor a docker save archive (manifest.json)`)
    if (plan.images.length === 0) throw new HangarError('invalid_argument', `${path} holds no linux/amd64 image`)
  } catch (e) {
    await plan.abort()
    await cleanup()
    throw e
  }
  return { plan, cleanup }
}

/**
 * Extracts regular files and directories only; symlinks (docker save links
 * duplicate layers) are recorded and followed by ImportPlan.file, inside the archive.
 */
async function extractArchive(file: string, dir: string): Promise<Map<string, string>> {
  const links = new Map<string, string>()
  try {
    await tar.x({
      file, cwd: dir, strict: true, preserveOwner: false, noChmod: true,
      filter: (p, entry) => {
        const type = 'type' in entry ? entry.type : 'File'
        if (type === 'SymbolicLink' && 'linkpath' in entry && entry.linkpath) links.set(p.replace(/^\.\//, '').replace(/\/$/, ''), entry.linkpath)
        return type === 'File' || type === 'OldFile' || type === 'Directory'
      },
    })
  } catch (e) {
    throw new HangarError('invalid_argument', `${file} is not a readable tar archive: ${(e as Error).message}`, { cause: e })
  }
  return links
}

async function planOciLayout(plan: ImportPlan): Promise<void> {
  const index = parseDocument(indexSchema, await readFile(plan.file('index.json')), 'index.json')
  for (const top of index.manifests) {
    const name = top.annotations?.[containerdNameAnnotation] ?? top.annotations?.[refNameAnnotation]
    const desc = await pickPlatform(plan, top, 0)
    if (desc === null) continue
    await planManifest(plan, desc)
    const seen = plan.images.find((i) => i.manifest.digest === desc.digest)
    if (seen) {
      if (name && !seen.names.includes(name)) seen.names.push(name)
    } else {
      plan.images.push({ names: name ? [name] : [], manifest: { digest: desc.digest, size: desc.size, mediaType: desc.mediaType } })
    }
  }
}

/** Follows indexes down to the linux/amd64 manifest; null when the descriptor is for another platform. */
async function pickPlatform(plan: ImportPlan, desc: Descriptor, depth: number): Promise<Descriptor | null> {
  if (desc.platform && !(desc.platform.os === 'linux' && desc.platform.architecture === 'amd64')) return null
  if (!isIndex(desc.mediaType)) return desc
  if (depth > 2) throw new HangarError('invalid_argument', `image index ${desc.digest} nests too deeply`)
  const index = parseDocument(indexSchema, await plan.readDocument(desc), `image index ${desc.digest}`)
  for (const child of index.manifests) {
    if (!child.platform) continue
    const found = await pickPlatform(plan, child, depth + 1)
    if (found) return found
  }
  throw new HangarError('invalid_argument', `image index ${desc.digest} has no linux/amd64 manifest`, {
    details: { platforms: index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : 'unknown')) },
  })
}

async function planManifest(plan: ImportPlan, desc: Descriptor): Promise<void> {
  const manifest = parseDocument(manifestSchema, await plan.readDocument(desc), `manifest ${desc.digest}`)
  const config = parseDocument(configSchema, await plan.readDocument(manifest.config), `image config ${manifest.config.digest}`)
  if (config.architecture && config.architecture !== 'amd64') {
    throw new HangarError('invalid_argument', `image ${desc.digest} is for ${config.os ?? 'linux'}/${config.architecture}; Hangar runs linux/amd64`)
  }
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new HangarError('invalid_argument', `manifest ${desc.digest} has ${manifest.layers.length} layers but its config lists ${config.rootfs.diff_ids.length}`)
  }
  for (const layer of manifest.layers) {
    if (!layerType.test(layer.mediaType)) throw new HangarError('invalid_argument', `layer ${layer.digest} has unsupported media type ${layer.mediaType}`)
    try {
      await plan.stageFile(blobPath(layer.digest), layer)
    } catch (e) {
      if (isHangarError(e)) throw e
      throw new HangarError('invalid_argument', `cannot read layer ${layer.digest}: ${(e as Error).message}`, { cause: e })
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false)
}
