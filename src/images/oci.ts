/**
 * The OCI (and Docker) documents the store reads, as zod schemas: anything an
 * archive hands us is checked here before a field of it is trusted.
 */
import { z } from 'zod'
import { HangarError } from '../errors.ts'
import type { ImageConfig } from './types.ts'

export const mediaTypes = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const

/** Annotation holding a tag in an OCI layout's index.json. */
export const refNameAnnotation = 'org.opencontainers.image.ref.name'
/** containerd and buildx put the full name here; prefer it when present. */
export const containerdNameAnnotation = 'io.containerd.image.name'

const digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'expected sha256:<64 hex>')

export const descriptorSchema = z.object({
  mediaType: z.string(),
  digest,
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() }).optional(),
})
export type Descriptor = z.infer<typeof descriptorSchema>

export const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
})
export type OciIndex = z.infer<typeof indexSchema>

export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
})
export type OciManifest = z.infer<typeof manifestSchema>

const strings = z.array(z.string()).nullish()
export const configSchema = z.object({
  created: z.string().optional(),
  architecture: z.string().optional(),
  os: z.string().optional(),
  config: z.object({
    User: z.string().optional(),
    ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
    Env: strings,
    Entrypoint: strings,
    Cmd: strings,
    WorkingDir: z.string().optional(),
    Labels: z.record(z.string(), z.string()).nullish(),
    StopSignal: z.string().optional(),
  }).nullish(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digest) }),
})
export type OciConfig = z.infer<typeof configSchema>

/** `docker save`'s manifest.json: one entry per image. */
export const dockerManifestSchema = z.array(z.object({
  Config: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Layers: z.array(z.string()),
}))

/** Parses JSON bytes against a schema; a bad document is the archive's fault, so invalid_argument. */
export function parseDocument<T>(schema: z.ZodType<T>, bytes: Buffer | string, what: string): T {
  let json: unknown
  try {
    json = JSON.parse(bytes.toString())
  } catch (e) {
    throw new HangarError('invalid_argument', `${what} is not valid JSON`, { cause: e })
  }
  const r = schema.safeParse(json)
  if (!r.success) throw new HangarError('invalid_argument', `${what} is not a valid document: ${z.prettifyError(r.error)}`)
  return r.data
}

export function isIndex(mediaType: string | undefined): boolean {
  return mediaType === mediaTypes.index || mediaType === mediaTypes.dockerList
}

/** The parts of an image config a machine uses, with Docker's defaults for what is missing. */
export function imageConfigOf(config: OciConfig): ImageConfig {
  const c = config.config ?? {}
  return {
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    env: c.Env ?? [],
    workingDir: c.WorkingDir || '/',
    user: c.User ?? '',
    exposedPorts: Object.keys(c.ExposedPorts ?? {}).sort(),
    stopSignal: c.StopSignal || null,
    labels: c.Labels ?? {},
  }
}
