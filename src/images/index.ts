/**
 * Hangar's local image store: OCI/docker archives in, content-addressed blobs
 * and tags in an OCI image layout, layers unpacked once into a shared cache.
 *
 *   const images = await openImageStore({ root: '/var/lib/hangar/images' })
 *   await images.importFile('busybox.oci.tar', { tag: 'busybox:latest' })
 *   const lowers = await images.unpack(await images.resolve('busybox'))
 */
export { openImageStore } from './store.ts'
export type { ImageStoreOptions } from './store.ts'
export { buildDebianBase, basePackages } from './base.ts'
export type { BaseImageOptions, BuildPhase, BuildProgress } from './base.ts'
export { parseImageRef, formatRef, repositoryName } from './ref.ts'
export { OwnHosts } from './own-hosts.ts'
export type { GcOptions, GcResult, ImageConfig, ImageRecord, ImageStore, InUse, ParsedRef } from './types.ts'
export { createRegistry } from './registry/index.ts'
export type { Principal } from './registry/index.ts'
export type { Registry, RegistryOptions, VerifyToken } from './registry/index.ts'
export { pullImage } from './pull.ts'
export type { PullOptions, PullProgress } from './pull.ts'
export { pushImage } from './push.ts'
export type { PushOptions, PushProgress, PushResult } from './push.ts'
export type { Credentials } from './remote.ts'
