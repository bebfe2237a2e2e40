/**
 * Which host ports a machine's raw TCP services may make the edge proxy listen on: only those in
 * the operator's ranges (--tcp-ports). Checked when a config is created or updated, before anything
 * is made, so a robot cannot take a port a host service or client counts on.
 *   assertServicePorts(ctx.tcpPorts, req.config)   // throws port_not_allowed
 */
import { HangarError } from '../errors.ts'
import { formatPortRanges, portAllowed, type PortRange } from '../lib/port-ranges.ts'
import { tcpServices } from '../proxy/index.ts'

export function assertServicePorts(allowed: readonly PortRange[], config: Record<string, unknown>): void {
  for (const s of tcpServices(config)) {
    for (const port of s.ports) {
      if (portAllowed(allowed, port)) continue
      const ranges = formatPortRanges(allowed)
      throw new HangarError('port_not_allowed', `services: TCP port ${port} is not one this host lets machines' services listen on (allowed: ${ranges})`, {
        details: { port, allowed: ranges },
      })
    }
  }
}
