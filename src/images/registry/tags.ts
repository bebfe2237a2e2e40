/**
 * Listings: GET /v2/<name>/tags/list and GET /v2/_catalog, both read from the
 * store's tag index, sorted lexically and paginated by n and last, with a
 * `Link: <…>; rel="next"` header while more remain (the spec's scheme).
 */
import { refNameAnnotation } from '../oci.ts'
import { RegistryError } from './errors.ts'
import { normalise } from './manifests.ts'
import { isRepositoryName, paginate, type RegistryCtx } from './paths.ts'

/** Every repository:tag in the index, split; names registry clients could not ask for are left out. */
async function tagged(ctx: RegistryCtx): Promise<{ repo: string; tag: string }[]> {
  const out: { repo: string; tag: string }[] = []
  for (const d of await ctx.tags.entries()) {
    const ref = normalise(d.annotations?.[refNameAnnotation])
    if (ref === undefined) continue
    const colon = ref.lastIndexOf(':')
    const repo = ref.slice(0, colon)
    // "127.0.0.1:4280/foo" (a pulled image) is not a /v2 name: a port cannot appear in a path name.
    if (isRepositoryName(repo)) out.push({ repo, tag: ref.slice(colon + 1) })
  }
  return out
}

function page(path: string, key: string, all: string[], q: { n?: string; last?: string }, extra: Record<string, unknown> = {}): Response {
  const { page: items, more } = paginate([...new Set(all)].sort(), q.n, q.last)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (more) headers.link = `<${path}?n=${q.n}&last=${encodeURIComponent(items.at(-1)!)}>; rel="next"`
  return new Response(JSON.stringify({ ...extra, [key]: items }), { status: 200, headers })
}

/** GET /v2/<name>/tags/list?n=&last= */
export async function listTags(ctx: RegistryCtx, name: string, q: { n?: string; last?: string }): Promise<Response> {
  const tags = (await tagged(ctx)).filter((t) => t.repo === name).map((t) => t.tag)
  if (tags.length === 0) throw new RegistryError('NAME_UNKNOWN', `repository ${name} is not in the registry`, { name })
  return page(`/v2/${name}/tags/list`, 'tags', tags, q, { name })
}

/** GET /v2/_catalog?n=&last=, listing only the repositories the caller may pull. */
export async function catalog(ctx: RegistryCtx, q: { n?: string; last?: string }, visible: (repo: string) => boolean = () => true): Promise<Response> {
  return page('/v2/_catalog', 'repositories', (await tagged(ctx)).map((t) => t.repo).filter(visible), q)
}
