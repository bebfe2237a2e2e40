/**
 * `docker save` tarballs: manifest.json lists each image's config file,
 * RepoTags and layer tars (plain or compressed). Hangar stores them as OCI
 * images: the config as is, layers as blobs, and an OCI manifest written here.
 */
import { readFile } from 'node:fs/promises'
import { HangarError } from '../errors.ts'
import { layerMediaType, sniffFile } from './compression.ts'
import type { ImportPlan } from './import-plan.ts'
import { configSchema, dockerManifestSchema, mediaTypes, parseDocument } from './oci.ts'

/** Names like "<hex>.json" or "blobs/sha256/<hex>" carry the digest the file must have. */
const digestInName = /(?:^|\/)(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/

export async function planDockerArchive(plan: ImportPlan): Promise<void> {
  const entries = parseDocument(dockerManifestSchema, await readFile(plan.file('manifest.json')), 'manifest.json')
  for (const entry of entries) {
    const configBytes = await readFile(plan.file(entry.Config)).catch((e: unknown) => {
      throw new HangarError('invalid_argument', `the archive has no config ${entry.Config}`, { cause: e })
    })
    const named = digestInName.exec(entry.Config)?.[1]
    const configDesc = await plan.stageBytes(configBytes, named ? `sha256:${named}` : undefined)
    const config = parseDocument(configSchema, configBytes, `image config ${entry.Config}`)
    if (config.architecture && config.architecture !== 'amd64') {
      throw new HangarError('invalid_argument', `image ${entry.RepoTags?.[0] ?? entry.Config} is for linux/${config.architecture}; Hangar runs linux/amd64`)
    }
    if (config.rootfs.diff_ids.length !== entry.Layers.length) {
      throw new HangarError('invalid_argument', `${entry.Config} lists ${config.rootfs.diff_ids.length} layers but manifest.json has ${entry.Layers.length}`)
    }

    const layers = []
    for (const [i, rel] of entry.Layers.entries()) {
      const compression = await sniffFile(plan.file(rel)).catch((e: unknown) => {
        throw new HangarError('invalid_argument', `the archive has no layer ${rel}`, { cause: e })
      })
      const hex = /(?:^|\/)blobs\/sha256\/([a-f0-9]{64})$/.exec(rel)?.[1]
      const blob = await plan.stageFile(rel)
      if (hex && blob.digest !== `sha256:${hex}`) throw new HangarError('invalid_argument', `blob digest mismatch: ${rel} hashes to ${blob.digest}`)
      // An uncompressed layer's digest is its diff id; compressed ones are checked at unpack.
      if (compression === 'none' && blob.digest !== config.rootfs.diff_ids[i]) {
        throw new HangarError('invalid_argument', `layer ${rel} hashes to ${blob.digest}, but the config says ${config.rootfs.diff_ids[i]}`)
      }
      layers.push({ mediaType: layerMediaType(compression), digest: blob.digest, size: blob.size })
    }

    const manifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.manifest,
      config: { mediaType: mediaTypes.config, digest: configDesc.digest, size: configDesc.size },
      layers,
    }
    const m = await plan.stageBytes(Buffer.from(JSON.stringify(manifest)))
    plan.images.push({ names: entry.RepoTags ?? [], manifest: { digest: m.digest, size: m.size, mediaType: mediaTypes.manifest } })
  }
}
