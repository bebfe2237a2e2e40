/**
 * Which machine gets the next request, as Fly's proxy decides it: the least
 * loaded started machine under its soft limit (ties at random); when every one
 * is over its soft limit (or none runs), wake a stopped one if the service
 * allows; past soft but under hard only when nothing can be woken; never past
 * hard ('full': the request waits in the app's queue, queue.ts).
 */
import type { Route } from './route-table.ts'

export type Choice =
  | { kind: 'route'; route: Route }
  /** Start (or wait for) this machine, then send the request to it. */
  | { kind: 'wake'; route: Route }
  | { kind: 'unavailable'; reason: string }
  /** Every candidate is at its hard limit: the request may wait in the app's queue for a slot. */
  | { kind: 'full'; reason: string }

/** A started machine that can take one more request. */
export function ready(r: Route): boolean {
  return r.state === 'started' && !r.draining && r.host !== null && r.load < r.service.hardLimit
}

const httpLoad = (r: Route): number => r.load

/** Least loaded (by `loadOf`: the HTTP service's Route.load unless told otherwise); ties broken at random (reservoir of one). */
export function leastLoaded(routes: readonly Route[], accept: (r: Route) => boolean = () => true, exclude?: string, loadOf: (r: Route) => number = httpLoad): Route | undefined {
  let best: Route | undefined
  let bestLoad = 0
  let ties = 0
  for (const r of routes) {
    if (r.id === exclude || !accept(r)) continue
    const load = loadOf(r)
    if (!best || load < bestLoad) {
      best = r
      bestLoad = load
      ties = 1
    } else if (load === bestLoad && Math.random() * ++ties < 1) {
      best = r
    }
  }
  return best
}

// A machine already starting is the cheapest to wake; one still stopping costs a full stop first.
const wakeOrder: Record<string, number> = { starting: 0, stopped: 1, suspended: 1, created: 1, stopping: 2, suspending: 2, started: 3 }

/** The machine to wake among the app's, if its service allows autostart. */
export function wakeable(routes: readonly Route[], exclude?: string): Route | undefined {
  let best: Route | undefined
  for (const r of routes) {
    const rank = wakeOrder[r.state]
    // A started machine only counts when autostop is taking it (it will be started again); a busy one is not asleep.
    if (rank === undefined || r.id === exclude || !r.service.autostart || ready(r) || (r.state === 'started' && !r.draining)) continue
    if (!best || rank < (wakeOrder[best.state] as number)) best = r
  }
  return best
}

/** Not failing its service's health checks (a machine without checks, or not checked yet, is healthy). */
export const healthy = (r: Route): boolean => r.health === null || r.health.passing
const usable = (r: Route): boolean => ready(r) && healthy(r)
const underSoft = (r: Route): boolean => usable(r) && r.load < r.service.softLimit

/** Picks a machine among the app's; `exclude` skips one (fly-replay elsewhere=true). No arrays are built on the common path. */
export function choose(app: string, routes: readonly Route[], exclude?: string): Choice {
  const under = leastLoaded(routes, underSoft, exclude)
  if (under) return { kind: 'route', route: under }
  const pool = exclude ? routes.filter((r) => r.id !== exclude) : routes
  if (pool.length === 0) return { kind: 'unavailable', reason: exclude ? `app ${app} has no other machine to replay to` : `app ${app} has no machines` }
  const sleeper = wakeable(pool)
  if (sleeper) return { kind: 'wake', route: sleeper }
  const over = leastLoaded(pool, usable)
  if (over) return { kind: 'route', route: over }
  if (pool.some((r) => r.state === 'started' && !r.draining && r.load >= r.service.hardLimit)) return { kind: 'full', reason: `every started machine of app ${app} is at its hard_limit` }
  return { kind: 'unavailable', reason: whyNone(app, pool) }
}

/** Whether `r` can take a request routed to it by name (pinning, affinity, replay). */
export function pinned(r: Route): Choice {
  if (ready(r)) return { kind: 'route', route: r }
  if (r.state === 'started' && r.load >= r.service.hardLimit) return { kind: 'full', reason: `machine ${r.id} is at its hard_limit (${r.service.hardLimit})` }
  if (r.state === 'destroyed') return { kind: 'unavailable', reason: `machine ${r.id} was destroyed` }
  if (r.service.autostart && wakeOrder[r.state] !== undefined) return { kind: 'wake', route: r }
  return { kind: 'unavailable', reason: `machine ${r.id} is ${r.state} and its service does not autostart` }
}

function whyNone(app: string, routes: readonly Route[]): string {
  const sick = routes.filter((r) => ready(r) && !healthy(r))
  if (sick.length) return `every started machine of app ${app} fails its health checks (${sick.map((r) => `${r.id}: ${r.health?.output}`).join('; ')})`
  const states = [...new Set(routes.map((r) => r.state))].join(', ')
  return `no machine of app ${app} is started (${states}) and autostart is off`
}
