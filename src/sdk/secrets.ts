/** App secrets: Fly's /v1/apps/{app}/secrets, typed. Write-only: nothing here returns a value. */
import type { SecretView } from '../platform/index.ts'
import type { Http } from './http.ts'

export class Secrets {
  readonly #http: Http

  constructor(http: Http) {
    this.#http = http
  }

  #p(app: string, name?: string): string {
    return `/v1/apps/${encodeURIComponent(app)}/secrets${name === undefined ? '' : `/${encodeURIComponent(name)}`}`
  }

  /** Names, digests and times; with `minVersion`, refused unless the app's secrets have reached it. */
  async list(app: string, opts: { minVersion?: number } = {}): Promise<SecretView[]> {
    const r = await this.#http.json<{ secrets: SecretView[] }>('GET', this.#p(app), { query: { min_version: opts.minVersion } })
    return r.secrets
  }

  get(app: string, name: string): Promise<SecretView> {
    return this.#http.json('GET', this.#p(app, name))
  }

  /**
   * Sets (a string) and unsets (null) in one new version, which machines created or updated from
   * now on get; answers every secret after the change and that version.
   *   const { version } = await hangar.secrets.update('myapp', { DATABASE_URL: url, OLD_TOKEN: null })
   *   await hangar.machines.update('myapp', id, { config, min_secrets_version: version })
   */
  update(app: string, values: Record<string, string | null>): Promise<{ secrets: SecretView[]; version: number }> {
    return this.#http.json('POST', this.#p(app), { body: { values } })
  }

  set(app: string, name: string, value: string): Promise<SecretView & { version: number }> {
    return this.#http.json('POST', this.#p(app, name), { body: { value } })
  }

  /** secret_not_found when it is not set. */
  unset(app: string, name: string): Promise<{ version: number }> {
    return this.#http.json('DELETE', this.#p(app, name))
  }
}
