// POST { model, prompt } → the completion as JSON; a polyfuse error → its class, kind and status.
import { PolyfuseError } from 'polyfuse'

import { client } from '../../../lib/polyfuse.js'

export async function POST(request) {
  const { model, prompt } = await request.json()
  try {
    const r = await client().complete({ model, prompt, signal: request.signal })
    return Response.json({ text: r.text, model: r.model, usage: r.usage })
  } catch (e) {
    if (!(e instanceof PolyfuseError)) throw e
    return Response.json({ error: e.name, kind: e.kind, message: e.message }, { status: e.status ?? 500 })
  }
}
