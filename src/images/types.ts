import type { ContentStore } from './content-store.ts'
import type { TagIndex } from './tag-index.ts'
import type { OwnHosts } from './own-hosts.ts'
import type { RemoteTargets } from './targets.ts'

/** What the rest of Hangar sees of an image: the parts of its OCI config a machine uses. */
export interface ImageConfig {
  entrypoint: string[]
  cmd: string[]
  /** KEY=VALUE pairs. */
  env: string[]
  workingDir: string
  user: string
  /** "8080/tcp" style keys of the OCI config's ExposedPorts. */
  exposedPorts: string[]
  stopSignal: string | null
  labels: Record<string, string>
}

export interface ImageRecord {
  /** Normalised reference, "repository:tag" (e.g. "busybox:latest"). */
  ref: string
  repository: string
  tag: string
  /** Digest of the image manifest (sha256:…). */
  digest: string
  /** Sum of the compressed layer sizes, bytes. */
  size: number
  /** RFC 3339, from the image config, or import time. */
  created: string
  config: ImageConfig
  /** Layer digests (compressed blobs) bottom first. */
  layers: string[]
}

export interface ParsedRef {
  /** Registry host, null for local names. */
  registry: string | null
  repository: string
  tag: string
  digest: string | null
}

/** What machines use, which only the caller knows; read after gc holds the store. */
export interface InUse {
  /** Manifest or index digests (a machine's image_ref.digest): kept with everything they name. */
  manifests?: Iterable<string>
  /** Absolute layer directories machines mount: kept, with their blobs. */
  layerDirs?: Iterable<string>
}

export interface GcOptions {
  inUse?: () => InUse | Promise<InUse>
}

export interface GcResult {
  blobsRemoved: number
  /** Bytes of the removed blobs, unpacked layers and stale ingest files. */
  bytesFreed: number
  layersRemoved: number
}

export interface ImageStore {
  /** Imports an OCI archive (tar), an OCI layout directory or a `docker save` tarball; tags it as `tag` when given. */
  importFile(path: string, opts?: { tag?: string }): Promise<ImageRecord[]>
  /** Finds a local image by reference or digest; throws HangarError image_not_found / invalid_image_ref. */
  resolve(ref: string): Promise<ImageRecord>
  list(): Promise<ImageRecord[]>
  /** Removes the tag; blobs go at the next gc. */
  remove(ref: string): Promise<void>
  /** Deletes blobs and unpacked layers no tag and nothing in `opts.inUse` reaches; see gc.ts. */
  gc(opts?: GcOptions): Promise<GcResult>
  /** Unpacks every layer once into the shared read-only cache; returns the layer directories bottom first. */
  unpack(image: ImageRecord): Promise<string[]>
  /** The blobs and tags underneath, for the /v2 registry and the pull and push clients, which speak OCI directly. */
  readonly content: ContentStore
  readonly tags: TagIndex
  /** This Hangar's registry addresses: a reference on one of them is a local name. */
  readonly own: OwnHosts
  /** Where pulls and pushes may connect (targets.ts): public addresses and the operator's allowed blocks. */
  readonly targets: RemoteTargets
}
