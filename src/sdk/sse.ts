/**
 * Server-Sent Events over a fetch Response, parsed by eventsource-parser (the
 * WHATWG line format, CR/LF/CRLF, BOM, multi-line data); no reconnects.
 */
import { EventSourceParserStream } from 'eventsource-parser/stream'

export interface SseEvent {
  event: string
  data: string
}

export async function* parseSse(res: Response): AsyncIterable<SseEvent> {
  if (!res.body) return
  const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())
  for await (const e of events as unknown as AsyncIterable<{ event?: string | undefined; data: string }>) yield { event: e.event ?? 'message', data: e.data }
}
