/** Server-sent events from an HTTP response body, parsed by `eventsource-parser`. */
import { createParser, type EventSourceMessage } from 'eventsource-parser'

/**
 * Yields each event of a `text/event-stream` body as it arrives. Events are queued between
 * body chunks, so one network read may yield several events (llama-server batches them).
 */
export async function* readServerSentEvents(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<EventSourceMessage> {
  const pending: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (event) => pending.push(event) })
  const decoder = new TextDecoder()
  for await (const chunk of body) {
    parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }))
    while (pending.length > 0) yield pending.shift() as EventSourceMessage
  }
  parser.feed(decoder.decode())
  // A last event without its blank-line terminator still counts, as browsers' EventSource does.
  parser.reset({ consume: true })
  while (pending.length > 0) yield pending.shift() as EventSourceMessage
}
