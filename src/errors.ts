/**
 * Every error Hangar returns, in one table. A code belongs to one class that
 * fixes its HTTP status; the message says what went wrong, the hint what to do.
 *
 *   throw new HangarError('machine_not_found', `machine ${id} not found`)
 *   if (isHangarError(e) && e.code === 'lease_conflict') …
 */

const classes = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  deadline_exceeded: 408,
  failed_precondition: 409,
  precondition_failed: 412,
  already_exists: 422,
  // Fly answers a host without room for a machine with a 4xx the client can act on, not a 5xx.
  resource_exhausted: 422,
  payload_too_large: 413,
  // A proxy (the tokenizer) refusing the client's proxy credentials.
  proxy_auth_required: 407,
  request_header_fields_too_large: 431,
  internal: 500,
  // A proxy (the tokenizer) that could not get an answer from the upstream.
  bad_gateway: 502,
  unavailable: 503,
  insufficient_storage: 507,
} as const

type ErrorClass = keyof typeof classes

export const codes = {
  // The request body or a parameter does not match the schema.
  invalid_argument: { class: 'invalid_argument', hint: 'fix the named field and send the request again' },
  // The request body is not valid JSON.
  malformed_json: { class: 'invalid_argument', hint: 'send a JSON object with Content-Type: application/json' },
  // An image reference that cannot be parsed.
  invalid_image_ref: { class: 'invalid_argument', hint: 'use a reference like "debian", "busybox:latest" or "name@sha256:<64 hex>"' },
  // A size, count or duration outside what Hangar allows.
  out_of_range: { class: 'invalid_argument', hint: 'pick a value inside the range the message gives' },
  // config.rootfs.size_gb (or the default rootfs size) is more than the host's machines filesystem holds.
  rootfs_too_large: { class: 'invalid_argument', hint: 'ask for a smaller config.rootfs.size_gb; the message names the most this host can give' },
  // config.rootfs.size_gb on a host that enforces no disk quotas (--machines-fs none).
  disk_quota_unsupported: { class: 'invalid_argument', hint: 'leave config.rootfs.size_gb out, or run the daemon with a machines filesystem (--machines-fs)' },
  // A volume larger than the host's machines filesystem holds.
  volume_too_large: { class: 'invalid_argument', hint: 'ask for a smaller size_gb; the message names the most this host can give' },
  // Volumes on a host without a machines filesystem (--machines-fs none): nothing could enforce their size.
  volumes_unsupported: { class: 'invalid_argument', hint: 'run the daemon with a machines filesystem (--machines-fs image, a device or a btrfs path)' },
  // No token, or a token Hangar did not issue.
  unauthenticated: { class: 'unauthenticated', hint: 'send Authorization: Bearer <token>; the root token is in <data-dir>/root-token' },
  // A token string that is not a Hangar token: wrong prefix, bad base64url, cut short, or an unknown caveat.
  token_malformed: { class: 'unauthenticated', hint: 'send the whole token as Hangar printed it (it starts with hm1_), or the root token from <data-dir>/root-token' },
  // A token whose HMAC chain does not verify: altered bytes, or signed by another daemon's key.
  token_invalid_signature: { class: 'unauthenticated', hint: 'ask the token\'s issuer for a fresh one; attenuate with `hangar tokens attenuate`, never by editing the string' },
  // The token's validity caveat excludes now: expired, or not yet valid.
  token_expired: { class: 'unauthenticated', hint: 'mint a new token (POST /v1/tokens) or ask its issuer for one' },
  // The token's id was revoked, or this daemon never issued it (its record is gone).
  token_revoked: { class: 'unauthenticated', hint: 'list live tokens with GET /v1/tokens and use one of them, or mint a new one' },
  // A caveat of the token refuses this request; details.caveat names it.
  caveat_denied: { class: 'permission_denied', hint: 'use a token whose caveats allow this request (see `hangar tokens inspect`), or ask for one' },
  // Secret values are write-only: no answer ever carries one (show_secrets=true is refused).
  secrets_write_only: { class: 'permission_denied', hint: 'leave show_secrets out: values reach machines only, as env vars and config.files; compare digests to tell values apart' },
  // A raw TCP service asks for a host port outside the operator's ranges (--tcp-ports).
  port_not_allowed: { class: 'permission_denied', hint: 'use an external port inside the allowed ranges the message names, or ask the operator to allow it (--tcp-ports)' },
  // An image pull or push would reach a loopback, link-local, private or otherwise special address.
  pull_target_not_allowed: { class: 'permission_denied', hint: 'pull from a public registry, or ask the operator to allow the address block (--pull-allow)' },
  // The token id is not one the caller may see.
  token_not_found: { class: 'not_found', hint: 'list the tokens you may see with GET /v1/tokens' },
  // The app does not exist.
  app_not_found: { class: 'not_found', hint: 'list apps with GET /v1/apps or create it with POST /v1/apps' },
  // The machine does not exist (or was destroyed).
  machine_not_found: { class: 'not_found', hint: 'list machines with GET /v1/apps/{app}/machines' },
  // The image is not in the local store.
  image_not_found: { class: 'not_found', hint: 'import it with `hangar image import FILE` or list images with `hangar image list`' },
  // No lease is held on the machine.
  checkpoint_not_found: { class: 'not_found', hint: 'list the machine\'s checkpoints with GET /v1/apps/{app}/machines/{id}/checkpoints' },
  // The volume (or its snapshot) does not exist in the app, or was destroyed.
  volume_not_found: { class: 'not_found', hint: 'list the app\'s volumes with GET /v1/apps/{app}/volumes' },
  volume_snapshot_not_found: { class: 'not_found', hint: 'list the volume\'s snapshots with GET /v1/apps/{app}/volumes/{id}/snapshots' },
  // The app has no secret of that name (or it was unset).
  secret_not_found: { class: 'not_found', hint: 'list the app\'s secrets with GET /v1/apps/{app}/secrets' },
  lease_not_found: { class: 'not_found', hint: 'acquire one with POST /v1/apps/{app}/machines/{id}/lease' },
  // A metadata key that is not set.
  metadata_key_not_found: { class: 'not_found', hint: 'list keys with GET /v1/apps/{app}/machines/{id}/metadata' },
  // The route does not exist.
  route_not_found: { class: 'not_found', hint: 'see /v1/openapi.json for the routes Hangar serves' },
  // Waiting for a state took longer than the timeout.
  wait_timeout: { class: 'deadline_exceeded', hint: 'wait again, or check the machine events for why it did not get there' },
  // The operation is not allowed from the machine's current state.
  invalid_state: { class: 'failed_precondition', hint: 'check the machine state; the message says which states allow this' },
  // Someone else holds the machine's lease, or the nonce does not match.
  lease_conflict: { class: 'failed_precondition', hint: 'send the lease nonce in the fly-machine-lease-nonce header, or wait for the lease to expire' },
  // The app still has machines.
  app_not_empty: { class: 'failed_precondition', hint: 'destroy its machines first, or pass force=true' },
  // The machines' disk limits together would pass what the machines filesystem gives out.
  network_conflict: { class: 'failed_precondition', hint: 'start the daemon with a --subnet and --subnet6 no host interface uses (see `ip addr`), or remove the interface holding them' },
  seed_volume_missing: { class: 'failed_precondition', hint: 'fork from the machine\'s disk as it is now (leave checkpoint out), or take a new checkpoint and fork from that' },
  checkpoint_limit: { class: 'failed_precondition', hint: 'delete a checkpoint you no longer need (DELETE …/checkpoints/{id}); checkpoints without a comment make room by themselves' },
  rootfs_no_room: { class: 'failed_precondition', hint: 'destroy machines you no longer need, ask for a smaller config.rootfs.size_gb, or give the host more disk (--machines-fs-size, --disk-overcommit)' },
  // The volume is attached to another machine that exists (a volume belongs to one machine at a time).
  volume_in_use: { class: 'failed_precondition', hint: 'destroy the machine holding it, or remove the volume from that machine\'s config.mounts with an update' },
  // The volumes' and disks' reservations together would pass what the machines filesystem gives out.
  volume_no_room: { class: 'failed_precondition', hint: 'destroy volumes or machines you no longer need, ask for a smaller size_gb, or give the host more disk (--machines-fs-size, --disk-overcommit)' },
  // A stale machine_version / current_version.
  version_mismatch: { class: 'precondition_failed', hint: 'read the machine again and send its current version' },
  // The name is already used.
  name_taken: { class: 'already_exists', hint: 'choose another name, or omit it to get a generated one' },
  // Files in a machine (the files API): each carries details.errno (the POSIX name) and details.path.
  // ENOENT: no such file or directory in the machine.
  file_not_found: { class: 'not_found', hint: 'list the directory (GET …/fs/list?path=) to see what is there' },
  // EISDIR: a file operation on a directory.
  is_a_directory: { class: 'invalid_argument', hint: 'name a file, or use the directory operations (fs/list, recursive delete, fs/tar)' },
  // ENOTDIR: a path component, or the target of a directory operation, is not a directory.
  not_a_directory: { class: 'invalid_argument', hint: 'check each component of the path with GET …/fs/list' },
  // ENOTEMPTY: deleting a directory that still holds entries.
  directory_not_empty: { class: 'failed_precondition', hint: 'pass recursive=true to delete it with everything in it' },
  // EEXIST: the destination already exists.
  file_exists: { class: 'failed_precondition', hint: 'delete the destination first, or pick another path' },
  // EACCES, EPERM, EROFS: the machine's root may not do this to the file (an id it does not map, an immutable or read-only file).
  file_permission_denied: { class: 'permission_denied', hint: 'check the file\'s owner and mode with GET …/fs/list' },
  // ENOSPC, EDQUOT: the machine's disk (config.rootfs.size_gb) is full.
  machine_disk_full: { class: 'insufficient_storage', hint: 'delete files in the machine, or give it a larger disk (config.rootfs.size_gb) with an update' },
  // Any other POSIX error from a file operation (ELOOP, ENAMETOOLONG, EINVAL…); details.errno names it.
  file_error: { class: 'invalid_argument', hint: 'details.errno names the POSIX error; fix the path or the request' },
  // The tokenizer (a forward proxy; its refusals are answers to the proxied request).
  // Proxy-Tokenizer is not base64, or does not open with this tokenizer's key: altered, cut short, or sealed to another key.
  tokenizer_bad_seal: { class: 'invalid_argument', hint: 'seal the secret again to this tokenizer\'s seal key (GET /v1/tokenizer, `hangar tokenizer seal`) and send it whole' },
  // The sealed secret opens but is not one the tokenizer can use: not one processor and one auth, a field of the wrong type, a processor it does not run.
  tokenizer_bad_secret: { class: 'invalid_argument', hint: 'seal a secret with exactly one processor and one auth block, as docs/api.md (Tokenizer) shows' },
  // The request cannot be proxied as sent: https:// or port 443, no sealed secret, malformed params, a dst or fmt the secret does not allow.
  tokenizer_bad_request: { class: 'invalid_argument', hint: 'send plain http:// requests through the tokenizer with Proxy-Tokenizer: <sealed>; it speaks TLS to the upstream itself' },
  // The secret may not be sent to the request's host (allowed_hosts, allowed_host_pattern).
  tokenizer_host_not_allowed: { class: 'invalid_argument', hint: 'send the request to a host the secret allows, or seal one for this host' },
  // The secret's auth is not met: Proxy-Authorization missing or wrong, or an auth a self-hosted tokenizer cannot check.
  tokenizer_unauthorized: { class: 'proxy_auth_required', hint: 'send Proxy-Authorization: Bearer <the token the secret\'s bearer_auth was sealed for>' },
  // The upstream resolves to an address the tokenizer does not dial (loopback, private, link-local…).
  tokenizer_target_refused: { class: 'permission_denied', hint: 'the tokenizer only dials the public internet; an operator can allow a block with --tokenizer-allow-net' },
  // The upstream could not be reached over TLS, or failed mid-answer.
  tokenizer_upstream_failed: { class: 'bad_gateway', hint: 'check the upstream is up and speaks TLS on that port with a certificate for its name (a private CA: --tokenizer-ca)' },
  // The request head is larger than the tokenizer reads.
  tokenizer_header_too_large: { class: 'request_header_fields_too_large', hint: 'send fewer or smaller headers (a sealed secret is a few hundred bytes)' },
  // A request body over the limit.
  payload_too_large: { class: 'payload_too_large', hint: 'send a smaller body' },
  // Starting the machine would reserve more memory or CPUs than the host allows machines.
  capacity_exceeded: { class: 'resource_exhausted', hint: 'stop or destroy machines you do not need, ask for a smaller guest, or raise --max-memory-share / --cpu-overcommit' },
  // The filesystem holding the data dir is full: the state database or a machine's files could not be written.
  disk_full: { class: 'insufficient_storage', hint: 'free space on the filesystem holding the data dir (df <data-dir>); Hangar carries on by itself once there is room' },
  // The runtime (runc, conmon, CNI, mount) failed.
  runtime_error: { class: 'internal', hint: 'see the machine events and the daemon log; the message names the failing step' },
  // Stored app secrets do not open with the data dir's secrets-key (restored from another backup, or replaced).
  secrets_unreadable: { class: 'internal', hint: 'put back the <data-dir>/secrets-key they were sealed with (see docs/operations.md), or set the app\'s secrets again' },
  // An unexpected failure inside Hangar.
  internal: { class: 'internal', hint: 'this is a bug in Hangar; the daemon log has the details' },
  // A system component Hangar needs is missing.
  unavailable: { class: 'unavailable', hint: 'run `./hangar up` as root so it can install what is missing' },
} as const satisfies Record<string, { class: ErrorClass; hint: string }>

export type Code = keyof typeof codes

const brand = Symbol.for('hangar.error')

export class HangarError extends Error {
  readonly code: Code
  readonly status: number
  readonly hint: string
  readonly details: Record<string, unknown> | undefined
  readonly [brand] = true

  constructor(code: Code, message: string, opts: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'HangarError'
    this.code = code
    this.status = classes[codes[code].class]
    this.hint = opts.hint ?? codes[code].hint
    this.details = opts.details
  }

  /** The gRPC-style class name Fly prefixes messages with ("not_found: machine not found"). */
  get grpcClass(): ErrorClass {
    return codes[this.code].class
  }

  toJSON(): { code: Code; message: string; hint: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, hint: this.hint, ...(this.details ? { details: this.details } : {}) }
  }
}

export function isHangarError(e: unknown): e is HangarError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true
}

/**
 * Whether `e`, or anything in its cause chain, says the disk is full: ENOSPC, SQLite's
 * SQLITE_FULL, or a child process's "No space left on device" carried in a message.
 */
export function isDiskFull(e: unknown): boolean {
  let x = e
  for (let depth = 0; x !== null && typeof x === 'object' && depth < 8; depth++) {
    if (isHangarError(x) && x.code === 'disk_full') return true
    const o = x as { code?: unknown; errcode?: unknown; message?: unknown; cause?: unknown }
    if (o.code === 'ENOSPC') return true
    // node:sqlite reports SQLite's extended code; its low byte is the primary code (13 = SQLITE_FULL).
    if (o.code === 'ERR_SQLITE_ERROR' && typeof o.errcode === 'number' && (o.errcode & 0xff) === 13) return true
    if (typeof o.message === 'string' && /no space left on device|database or disk is full/i.test(o.message)) return true
    x = o.cause
  }
  return false
}

/** Wraps anything thrown into a HangarError, keeping the original as cause; a full disk becomes disk_full. */
export function toHangarError(e: unknown, fallback: Code = 'internal'): HangarError {
  if (isHangarError(e)) return e
  const message = e instanceof Error ? e.message : String(e)
  return new HangarError(isDiskFull(e) ? 'disk_full' : fallback, message, { cause: e })
}
