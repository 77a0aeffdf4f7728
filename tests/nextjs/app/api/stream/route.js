// POST { model, prompt } → the answer's text as a streamed response (a ReadableStream of text
// deltas). The client going away cancels the ReadableStream, which ends the polyfuse stream and
// closes its connection to the provider.
import { client } from '../../../lib/polyfuse.js'

export async function POST(request) {
  const { model, prompt } = await request.json()
  const events = client().stream({ model, prompt })[Symbol.asyncIterator]()
  const encoder = new TextEncoder()
  const body = new ReadableStream({
    async pull(controller) {
      const { value, done } = await events.next()
      if (done) return controller.close()
      if (value.type === 'text_delta') controller.enqueue(encoder.encode(value.text))
    },
    async cancel() {
      await events.return()
    },
  })
  return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } })
}
