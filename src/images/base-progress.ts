/**
 * mmdebstrap --verbose stderr → build phases. mmdebstrap draws progress bars
 * only on a terminal, so percentages are counted from apt's and dpkg's own
 * lines: `Get:` per downloaded package, `Setting up` per configured one,
 * against the "N upgraded, M newly installed" total apt announces.
 *
 *   const p = new MmdebstrapProgress()
 *   for (const line of lines) { const ev = p.push(line); if (ev) onProgress(ev) }
 */

export type BuildPhase = 'resolving' | 'downloading' | 'extracting' | 'installing' | 'packing' | 'importing' | 'done'

export interface BuildProgress {
  phase: BuildPhase
  message: string
  /** 0–100 within the phase, when it can be counted. */
  percent?: number
}

/** mmdebstrap's `I:` lines that open a phase, in the order they appear. */
const phaseLines: [RegExp, BuildPhase][] = [
  [/^I: running apt-get update/, 'resolving'],
  [/^I: downloading packages/, 'downloading'],
  [/^I: extracting archives/, 'extracting'],
  [/^I: installing (essential|remaining) packages/, 'installing'],
  [/^I: (cleaning package lists|creating tarball)/, 'packing'],
]

export class MmdebstrapProgress {
  #phase: BuildPhase = 'resolving'
  /** Packages apt said it will install, summed over mmdebstrap's apt runs. */
  #total = 0
  #fetched = 0
  #configured = 0
  #lastPercent = -1

  /** The event a line is worth reporting, or null for noise. */
  push(line: string): BuildProgress | null {
    for (const [re, phase] of phaseLines) {
      if (!re.test(line)) continue
      this.#phase = phase
      this.#lastPercent = -1
      return { phase, message: line.slice(3).replace(/\.\.\.$/, '') }
    }
    const planned = /^(\d+) upgraded, (\d+) newly installed/.exec(line)
    if (planned) {
      this.#total += Number(planned[1]) + Number(planned[2])
      return null
    }
    // Index files (InRelease, Packages) are fetched during update; packages carry "[size]" and an arch.
    const get = /^Get:\d+ \S+ \S+ \S+ (\S+) \S+ \S+ \[/.exec(line)
    if (get && this.#phase === 'downloading') {
      this.#fetched++
      return this.#counted(this.#fetched, `fetched ${get[1]}`)
    }
    const setup = /^Setting up (\S+)/.exec(line)
    if (setup) {
      this.#configured++
      if (this.#phase === 'installing') return this.#counted(this.#configured, `set up ${setup[1]}`)
    }
    if (/^(E|W): /.test(line)) return { phase: this.#phase, message: line }
    return null
  }

  /** One event per whole percent, so a thousand dpkg lines do not become a thousand events. */
  #counted(done: number, message: string): BuildProgress | null {
    if (this.#total === 0) return null
    const percent = Math.min(100, Math.floor((done / this.#total) * 100))
    if (percent === this.#lastPercent) return null
    this.#lastPercent = percent
    return { phase: this.#phase, message, percent }
  }
}
