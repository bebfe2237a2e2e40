/**
 * Cursor pagination for the MCP list methods (tools, resources, resource
 * templates). A cursor is opaque to clients: base64url JSON naming the list and
 * the key of the last item sent, so the next page starts right after that item
 * and a deleted item shifts nothing. A cursor this server did not make, or one
 * made for another list, is -32602 (Invalid params), as the spec says.
 *   const { items, nextCursor } = firstPage('tools', after('tools', all, (t) => t.name, cursor), (t) => t.name, pageSize)
 */
import { HangarError } from '../../errors.ts'
import { invalidParams, type RpcError } from './requests.ts'

/**
 * Items per page unless createMcpServer is given another size. Above Hangar's tool count
 * (18 today), so the whole tool table is one page: several real clients read only the
 * first page of tools/list and would silently lose the rest. resources/list, which grows
 * with apps and machines, still pages on an install of any size. Tests of the cursor
 * walk pass a small size instead of relying on the tool count.
 */
export const defaultPageSize = 50

/** A page size given to createMcpServer: a whole number of items, at least one. */
export function checkPageSize(size: number): number {
  if (!Number.isInteger(size) || size < 1) throw new HangarError('invalid_argument', `MCP page size must be a whole number of at least 1, got ${size}`)
  return size
}

export type ListName = 'tools' | 'resources' | 'resourceTemplates'

export interface Page<T> {
  items: T[]
  /** Absent on the last page: the spec's end of results (an empty string would read as "more"). */
  nextCursor?: string
}

export function cursorAfter(list: ListName, lastKey: string): string {
  return Buffer.from(JSON.stringify({ l: list, k: lastKey })).toString('base64url')
}

const invalid = (list: ListName, why: string): RpcError =>
  invalidParams(`invalid cursor for ${list}/list: ${why}. Next: list again without a cursor and pass back the nextCursor it returns, unchanged`)

/** The key of the last item the previous page held; undefined for the first page. */
export function readCursor(list: ListName, cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined
  let body: unknown
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalid(list, 'not a cursor this server made')
  }
  const { l, k } = (body ?? {}) as { l?: unknown; k?: unknown }
  if (typeof k !== 'string' || typeof l !== 'string') throw invalid(list, 'not a cursor this server made')
  if (l !== list) throw invalid(list, `it belongs to ${l}/list`)
  return k
}

/** For a fixed list in its own order: the items after the cursor's. An unknown key is an invalid cursor. */
export function after<T>(list: ListName, items: readonly T[], key: (t: T) => string, cursor: string | undefined): readonly T[] {
  const last = readCursor(list, cursor)
  if (last === undefined) return items
  const i = items.findIndex((t) => key(t) === last)
  if (i < 0) throw invalid(list, `it names ${JSON.stringify(last)}, which is not in the list`)
  return items.slice(i + 1)
}

/**
 * The first `size` items of `rest` (already starting after the cursor), and a cursor
 * when more follow. Reads one item past the page only to know whether there is more,
 * so a lazy source does no more work than a page needs.
 */
export async function firstPage<T>(list: ListName, rest: Iterable<T> | AsyncIterable<T>, key: (t: T) => string, size: number): Promise<Page<T>> {
  const items: T[] = []
  for await (const t of rest) {
    if (items.length === size) return { items, nextCursor: cursorAfter(list, key(items[size - 1] as T)) }
    items.push(t)
  }
  return { items }
}
