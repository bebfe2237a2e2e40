/** A minimal Server-Sent Events reader over a fetch Response (the spec's line format, no reconnects). */
export interface SseEvent {
  event: string
  data: string
}

export async function* parseSse(res: Response): AsyncIterable<SseEvent> {
  if (!res.body) return
  const decoder = new TextDecoder()
  let buf = ''
  let event = 'message'
  let data: string[] = []
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true })
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '')
      buf = buf.slice(nl + 1)
      if (line === '') {
        if (data.length) yield { event, data: data.join('\n') }
        event = 'message'
        data = []
      } else if (line.startsWith('event:')) event = line.slice(6).trim()
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
    }
  }
}
