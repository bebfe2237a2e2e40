/**
 * Address blocks that are not the public internet: "this network", private, shared (CGNAT),
 * loopback, link-local (cloud metadata), IETF protocol assignments, benchmarking, multicast and
 * reserved; for IPv6 loopback, IPv4-mapped, NAT64, unique-local, link-local and multicast. The
 * machine firewall drops them by default and the tokenizer refuses to dial them, so neither a
 * machine nor a sealed secret reaches into the host's own networks unless the operator says so.
 */
export const SPECIAL4 = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.168.0.0/16', '198.18.0.0/15', '224.0.0.0/4', '240.0.0.0/4',
] as const
export const SPECIAL6 = ['::/128', '::1/128', '::ffff:0:0/96', '64:ff9b::/96', '64:ff9b:1::/48', 'fc00::/7', 'fe80::/10', 'ff00::/8'] as const
