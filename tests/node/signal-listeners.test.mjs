// A long-lived AbortSignal passed to many calls (issue 11, item 6): each call's abort listener comes
// off the signal when the call settles (resolved, rejected, a stream done, failed or broken off), so
// nothing of finished calls stays on it; the signal still cancels the calls in flight; and the
// signal's own `onabort` is left alone.
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { after, before, describe, test } from 'node:test'

import { eventually, mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client } = polyfuse
const MODEL = 'mockhttp/gpt-4o-mini'
const N = 200

const listeners = (signal) => getEventListeners(signal, 'abort').length

describe('AbortSignal listeners are removed when calls settle', () => {
  let server
  let client
  before(async () => {
    server = await startMockServer()
    client = new Client({ config: mockConfig(server) })
  })
  after(() => server.stop())

  test(`complete(): ${N} calls on one signal leave no listener, also while they run in parallel`, async () => {
    const { signal } = new AbortController()
    for (let i = 0; i < N; i++) {
      await client.complete({ model: MODEL, prompt: 'x', signal })
      assert.equal(listeners(signal), 0, `after call ${i + 1}`)
    }
    const running = Array.from({ length: 20 }, () => client.complete({ model: `${MODEL};latency_ms=50`, prompt: 'x', signal }))
    assert.equal(listeners(signal), 20, 'one listener per call in flight')
    await Promise.all(running)
    assert.equal(listeners(signal), 0)
    await rejection(client.complete({ model: `${MODEL};status=400`, prompt: 'x', signal }))
    assert.equal(listeners(signal), 0, 'a rejected call leaves none either')
  })

  test('stream(): a stream read to the end, one that fails and one broken off leave no listener', async () => {
    const { signal } = new AbortController()
    for (let i = 0; i < N / 4; i++) {
      for await (const _ of client.stream({ model: `${MODEL};words=3`, prompt: 'x', signal }));
      assert.equal(listeners(signal), 0, `after stream ${i + 1}`)
    }
    const failing = client.stream({ model: `${MODEL};status=500`, prompt: 'x', signal })
    assert.equal(listeners(signal), 1)
    await rejection((async () => { for await (const _ of failing); })())
    assert.equal(listeners(signal), 0)
    for await (const ev of client.stream({ model: `${MODEL};words=20;chunk_delay_ms=20`, prompt: 'x', signal })) {
      if (ev.type === 'text_delta') break
    }
    assert.equal(listeners(signal), 0, 'break (return()) removes it')
  })

  test('chat.completions.create(): plain and streamed calls leave no listener', async () => {
    const { signal } = new AbortController()
    const messages = [{ role: 'user', content: 'hi' }]
    for (let i = 0; i < N / 4; i++) {
      await client.chat.completions.create({ model: MODEL, messages }, { signal })
      const stream = await client.chat.completions.create({ model: `${MODEL};words=2`, messages, stream: true }, { signal })
      assert.equal(listeners(signal), 1, 'the stream still listens')
      for await (const _ of stream);
      assert.equal(listeners(signal), 0, `after round ${i + 1}`)
    }
    await rejection(client.chat.completions.create({ model: `${MODEL};status=401`, messages, stream: true }, { signal }))
    assert.equal(listeners(signal), 0, 'a stream that failed to start leaves none')
  })

  test('the signal still cancels what is in flight, and its onabort is not replaced', async () => {
    const controller = new AbortController()
    let onabortCalls = 0
    controller.signal.onabort = () => onabortCalls++
    const own = listeners(controller.signal) // the onabort handler is an 'abort' listener too
    await client.complete({ model: MODEL, prompt: 'x', signal: controller.signal })
    const hanging = client.complete({ model: `${MODEL};hang=1`, prompt: 'x', signal: controller.signal })
    assert.ok(await eventually(async () => (await server.stats()).in_flight > 0))
    controller.abort()
    assert.equal((await rejection(hanging)).kind, 'cancelled')
    assert.equal(onabortCalls, 1, "the caller's onabort ran")
    assert.equal(listeners(controller.signal), own)
  })
})
