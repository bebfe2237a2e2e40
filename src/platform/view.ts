/** The Machine object in the Fly Machines API's shape, returned by REST and MCP alike. */
import type { MachineRow } from '../store/index.ts'
import type { Ctx } from './context.ts'
import type { MachineEventView } from './events.ts'
import type { LeaseView } from './leases.ts'

export interface MachineView {
  id: string
  name: string
  state: string
  region: string
  instance_id: string
  version: string
  /** The machine's private IPv4 address on the host bridge. */
  private_ip: string | null
  private_ipv6: string | null
  config: Record<string, unknown>
  image_ref: Record<string, unknown>
  created_at: string
  updated_at: string
  events: MachineEventView[]
  host_status: 'ok'
  restart_count: number
  nonce?: string
  lease?: LeaseView | null
  /** Its services' health checks, as Fly reports them (absent when it declares none). */
  checks?: CheckView[]
}

/** One health check's latest result, in Fly's Machine `checks[]` shape. */
export interface CheckView {
  name: string
  status: 'passing' | 'warning' | 'critical'
  output: string
  updated_at: string
}

export function machineView(ctx: Ctx, m: MachineRow, opts: { events?: number; nonce?: string; includeLease?: boolean } = {}): MachineView {
  const view: MachineView = {
    id: m.id,
    name: m.name,
    state: m.state,
    region: m.region,
    instance_id: m.instance_id,
    version: m.instance_id,
    private_ip: m.private_ip,
    private_ipv6: m.private_ip6,
    config: m.config,
    image_ref: m.image_ref,
    created_at: m.created_at,
    updated_at: m.updated_at,
    events: ctx.events.list(m.id, opts.events ?? 5),
    host_status: 'ok',
    restart_count: m.restart_count,
  }
  const checks = ctx.checks(m.id)
  if (checks) view.checks = checks
  if (opts.nonce) view.nonce = opts.nonce
  if (opts.includeLease) {
    try {
      view.lease = ctx.leases.get(m.id)
    } catch {
      view.lease = null
    }
  }
  return view
}
