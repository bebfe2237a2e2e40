/**
 * What the MCP tools need from Hangar, as one small interface over the
 * platform: the adapter only renames, every rule stays in the platform.
 * `hangar mcp` (stdio) relays to the daemon's server (relay.ts), so there is
 * one server and one backend.
 */
import { HangarError } from '../../errors.ts'
import type { Action, Caveat } from '../../auth/index.ts'
import type { AppView, Caller, BuildBaseInput, BuildProgress, ExecOutput, MachineEventView, MachineView, Platform, PullProgress, SealInput, SecretView, TokenizerInfo, WaitResult } from '../../platform/index.ts'
import type { OpInput, OpParams, OpSpec } from '../../ops/index.ts'
import { operationsOf, type Answer, type Call } from '../../platform/operations.ts'
import { parse } from '../../platform/validate.ts'
import type { ImageRecord } from '../../images/types.ts'
import type { LogLine } from '../../runtime/types.ts'

/** What token_create asks for: the restrictions POST /v1/tokens takes. */
export interface TokenRequest {
  apps?: string[]
  machines?: string[]
  actions?: Action[]
  expires_in?: number | string
  description?: string
}

export interface Backend {
  /** Tokens minted by the session's own token: never wider than it. */
  tokens: {
    create(req: TokenRequest): Promise<{ id: string; token: string; caveats: Caveat[] }>
  }
  /** Sealing for the tokenizer: the credential goes in, only the sealed value comes out. */
  tokenizer: {
    seal(secret: SealInput): Promise<{ sealed: string }>
    info(): Promise<TokenizerInfo>
  }
  /** Logs are not a declared operation yet (they stream). */
  machines: {
    /** The last `tail` lines, oldest first. */
    logs(app: string, id: string, tail: number): Promise<LogLine[]>
  }
  /** App secrets, write-only: answers carry names and digests, never a value. */
  secrets: {
    list(app: string): Promise<{ secrets: SecretView[]; version: number }>
    /** Sets (string) and unsets (null) in one new version; answers every secret after it. */
    update(app: string, values: Record<string, string | null>): Promise<{ secrets: SecretView[]; version: number }>
  }
  /**
   * A declared operation (src/ops), run through the platform's binding: the tools of checkpoints,
   * volumes and files call this instead of a method restating the service.
   */
  run<S extends OpSpec>(spec: S, params: OpParams<S>, input?: OpInput<S>, call?: Call): Promise<Answer<S>>
  images: {
    list(): Promise<ImageRecord[]>
    get(ref: string): Promise<ImageRecord>
    /** Imports an archive from a path on the host this MCP server runs on. */
    importFile(path: string, opts: { tag?: string }): Promise<ImageRecord[]>
    /** Builds the Debian base image (returns it at once when it exists, unless force). */
    buildBase(opts: BuildBaseInput, onProgress: (p: BuildProgress) => void): Promise<ImageRecord>
    /** Pulls `ref` from the registry it names, anonymously, and tags it locally; `signal` stops the pull (nothing is tagged). */
    pull(ref: string, onProgress: (p: PullProgress) => void, signal?: AbortSignal): Promise<ImageRecord>
  }
}

/** The daemon's own backend for one caller (the session's token): direct calls; the platform dedupes retried creates. */
export function platformBackend(platform: Platform, caller: Caller): Backend {
  const pm = platform.machines
  return {
    tokens: {
      create: async (req) => {
        const { id, token, caveats } = platform.tokens.create(caller, req)
        return { id, token, caveats }
      },
    },
    tokenizer: {
      seal: (secret) => platform.tokenizer.seal(secret),
      info: async () => platform.tokenizer.info(),
    },
    machines: {
      logs: async (app, id, tail) => {
        const lines: LogLine[] = []
        for await (const l of platform.machines.logs(app, id, { tail })) lines.push(l)
        return lines
      },
    },
    secrets: {
      list: async (app) => platform.secrets.list(app),
      update: async (app, values) => platform.secrets.update(app, { values }),
    },
    async run(spec, params, input, call = {}) {
      const bound = operationsOf(platform).get(spec.id)
      if (!bound) throw new HangarError('internal', `operation ${spec.id} is declared but not bound`)
      // The session's caller: a machine's owner, and what lists keep.
      return bound.run(parse(spec.params, params, 'parameters'), input, { ...call, caller }) as never
    },
    images: {
      list: () => platform.images.list(),
      get: (ref) => platform.images.resolve(ref),
      // Over /mcp any token holder would name a file on the daemon host, read as root:
      // refuse, and point at the paths that upload the archive instead.
      importFile: async () => {
        throw new HangarError('invalid_argument', 'image_import over HTTP cannot read files on the daemon host', {
          hint: 'use `hangar mcp` (stdio uploads the local file), `hangar image import FILE`, or POST /v1/images/import with the archive as the body',
        })
      },
      buildBase: (o, onProgress) => platform.images.buildBase(o, onProgress),
      pull: (ref, onProgress, signal) => platform.images.pull({ ref }, onProgress, signal),
    },
  }
}
