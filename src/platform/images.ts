/**
 * Images as the platform offers them: the store's list/resolve/import/remove,
 * gc with the machines' images kept, plus building the Debian base. One build per tag runs at a time; a second
 * caller (the daemon's first-start build, then a user's `hangar image
 * build-base`) joins it and sees its progress instead of starting another.
 *
 *   const img = await platform.images.buildBase({ suite: 'bookworm' }, (p) => send(p))
 */
import { z } from 'zod'
import {
  buildDebianBase, parseImageRef, pullImage, pushImage, type BuildProgress, type Credentials, type GcResult, type ImageRecord, type ImageStore, type InUse, type PullProgress,
  type PushProgress, type PushResult,
} from '../images/index.ts'
import type { Driver } from '../runtime/types.ts'
import type { Store } from '../store/index.ts'
import { parse } from './validate.ts'

export const buildBaseSchema = z.strictObject({
  suite: z.string().regex(/^[a-z][a-z0-9-]{1,30}$/, 'a Debian codename, e.g. bookworm').default('bookworm')
    .describe('Debian suite to build'),
  tag: z.string().min(1).max(255).optional().describe('image reference to tag; default debian:<suite> and debian:latest'),
  force: z.boolean().optional().describe('rebuild even when the tag exists'),
})
export type BuildBaseInput = z.input<typeof buildBaseSchema>

const creds = z.strictObject({ username: z.string().max(255), password: z.string().min(1).max(4096) })
export const pullSchema = z.strictObject({
  ref: z.string().min(1).max(512).describe('image to pull, naming its registry, e.g. 127.0.0.1:4280/robots/busybox:1'),
  credentials: creds.optional().describe('for registries that want a login; for Hangar, any username and an API token'),
})
export const pushSchema = z.strictObject({
  ref: z.string().min(1).max(512).describe('local image to push'),
  dest: z.string().min(1).max(512).optional().describe('where to push it, naming a registry; default ref'),
  credentials: creds.optional(),
})

export interface ImagesDeps {
  /** Archive for base builds; default the host's apt sources. */
  mirror?: string
  /** What machines use, for gc; without it gc keeps only tagged images. */
  inUse?: () => Promise<InUse>
}

/**
 * What gc must keep for machines: the image of every machine not destroyed (its row's
 * image_ref.digest), and every layer directory the runtime mounts, which also covers a
 * machine half-way through create or update.
 */
export async function machinesInUse(store: Pick<Store, 'machines'>, driver: Pick<Driver, 'layersInUse'>): Promise<InUse> {
  const manifests = store.machines.live().map((m) => m.image_ref.digest).filter((d): d is string => typeof d === 'string')
  return { manifests, layerDirs: (await driver.layersInUse?.()) ?? [] }
}

interface Build {
  done: Promise<ImageRecord>
  listeners: Set<(p: BuildProgress) => void>
  /** The latest event, replayed to whoever joins late so their display is not blank. */
  last: () => BuildProgress | null
}

export function imagesService(store: ImageStore, deps: ImagesDeps = {}) {
  const builds = new Map<string, Build>()
  /** Aborted by close(): a build must not keep a stopping daemon alive. */
  const stop = new AbortController()

  return {
    list: (): Promise<ImageRecord[]> => store.list(),
    resolve: (ref: string): Promise<ImageRecord> => store.resolve(ref),
    importFile: (path: string, opts?: { tag?: string }): Promise<ImageRecord[]> => store.importFile(path, opts),
    /** Untags only; the blobs and layers go at the next gc. */
    remove: (ref: string): Promise<void> => store.remove(ref),
    /**
     * Deletes the blobs and unpacked layers that no tag and no machine (live, or still on disk)
     * reaches. Only ever on request: never after remove, never on a timer.
     */
    gc: (): Promise<GcResult> => store.gc(deps.inUse ? { inUse: deps.inUse } : {}),
    /** The raw store, for the /v2 registry, which speaks OCI to it directly. */
    store,

    /**
     * Pulls `ref` from its registry and tags it locally (a bad body throws invalid_argument at once).
     * `signal` is the caller's (a cancelled MCP call, a REST client that went away): when it aborts the
     * pull's downloads end and nothing is tagged, as when the daemon closes.
     */
    pull(input: unknown, onProgress?: (p: PullProgress) => void, signal?: AbortSignal): Promise<ImageRecord> {
      const req = parse(pullSchema, input, 'pull request')
      const either = signal ? AbortSignal.any([stop.signal, signal]) : stop.signal
      return pullImage(store, req.ref, { ...withCreds(req.credentials), signal: either, ...(onProgress ? { onProgress } : {}) })
    },

    /** Pushes a local image to a registry. */
    push(input: unknown, onProgress?: (p: PushProgress) => void): Promise<PushResult> {
      const req = parse(pushSchema, input, 'push request')
      return pushImage(store, req.ref, req.dest ?? req.ref, { ...withCreds(req.credentials), signal: stop.signal, ...(onProgress ? { onProgress } : {}) })
    },

    /**
     * Builds the Debian base image (or returns it when already tagged, unless force).
     * A bad body throws invalid_argument synchronously, so REST can answer 400 before opening a stream;
     * the promise rejects with unavailable when mmdebstrap or the archive is missing.
     */
    buildBase(input: unknown, onProgress?: (p: BuildProgress) => void): Promise<ImageRecord> {
      const req = parse(buildBaseSchema, input ?? {}, 'build-base request')
      const key = req.tag ?? `debian:${req.suite}`
      let build = builds.get(key)
      if (!build) {
        const listeners = new Set<(p: BuildProgress) => void>()
        let last: BuildProgress | null = null
        const done = buildDebianBase(store, {
          suite: req.suite,
          ...(req.tag !== undefined ? { tag: req.tag } : {}),
          ...(req.force ? { force: true } : {}),
          ...(deps.mirror !== undefined ? { mirror: deps.mirror } : {}),
          signal: stop.signal,
          onProgress: (p) => {
            last = p
            for (const l of listeners) l(p)
          },
        }).finally(() => builds.delete(key))
        builds.set(key, (build = { done, listeners, last: () => last }))
      } else {
        const last = build.last()
        if (last && onProgress) onProgress(last)
      }
      if (!onProgress) return build.done
      const { listeners } = build
      listeners.add(onProgress)
      return build.done.finally(() => listeners.delete(onProgress))
    },

    /** The base build that will produce `ref` (e.g. "debian" while the first start builds debian:bookworm), if one runs. */
    building(ref: string): Promise<ImageRecord> | undefined {
      let repository: string
      try {
        repository = parseImageRef(ref).repository
      } catch {
        return undefined
      }
      for (const [key, build] of builds) if (key.split(':')[0] === repository) return build.done
      return undefined
    },

    /** Cancels running builds (their callers see unavailable). */
    close(): void {
      stop.abort()
    },
  }
}

function withCreds(c: Credentials | undefined): { credentials?: Credentials } {
  return c ? { credentials: c } : {}
}

export type ImagesService = ReturnType<typeof imagesService>
