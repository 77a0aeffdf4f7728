// stream(): event order, final response and usage, tool-call deltas, streams without [DONE],
// and `break` closing the connection.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { collect, disconnectedSince, mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse

describe('stream', () => {
  let server
  let client
  before(async () => {
    server = await startMockServer()
    client = new Client({ config: mockConfig(server, { policy: { stream_idle_timeout_ms: 1000 } }) })
  })
  after(() => server.stop())

  test('text deltas arrive in order and add up to the final text; final usage is what the mock sent', async () => {
    const events = await collect(
      client.stream({ model: 'mockhttp/gpt-4o-mini;words=12;chunks=5;prompt_tokens=21;completion_tokens=12', prompt: 'Hi' }),
    )
    const deltas = events.filter((e) => e.type === 'text_delta')
    assert.equal(deltas.length, 5)
    const last = events.at(-1)
    assert.equal(last.type, 'final')
    assert.equal(events.filter((e) => e.type === 'final').length, 1)
    const text = deltas.map((e) => e.text).join('')
    assert.equal(text, 'w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12')
    assert.equal(last.response.text, text)
    assert.equal(last.response.usage.inputTokens, 21)
    assert.equal(last.response.usage.outputTokens, 12)
    assert.equal(last.response.finishReason, 'stop')
    assert.ok(last.response.ttftMs >= 0)
  })

  test('the stream object is an async iterator', async () => {
    const s = client.stream({ model: 'mockhttp/gpt-4o-mini;text=a b', prompt: 'x' })
    assert.equal(s[Symbol.asyncIterator](), s)
    const first = await s.next()
    assert.equal(first.done, false)
    assert.equal(first.value.type, 'text_delta')
    await s.return()
    assert.deepEqual(await s.next(), { done: true, value: undefined })
  })

  test('tool-call deltas assemble into the final tool calls with parsed arguments', async () => {
    const args = JSON.stringify({ city: 'Paris', days: 3 })
    const events = await collect(
      client.stream({
        model: `mockhttp/gpt-4o-mini;tool_call=get_weather;tool_args=${encodeURIComponent(args)}`,
        prompt: 'Weather?',
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      }),
    )
    const deltas = events.filter((e) => e.type === 'tool_call_delta')
    assert.ok(deltas.length > 1, 'the arguments came in several pieces')
    assert.equal(deltas[0].name, 'get_weather')
    assert.ok(deltas[0].id)
    assert.equal(deltas.map((d) => d.arguments).join(''), args)
    const final = events.at(-1)
    assert.equal(final.type, 'final')
    assert.equal(final.response.finishReason, 'tool_calls')
    assert.equal(final.response.toolCalls.length, 1)
    const [call] = final.response.toolCalls
    assert.equal(call.name, 'get_weather')
    assert.equal(call.id, deltas[0].id)
    assert.equal(call.arguments, args)
    assert.deepEqual(call.parsedArguments, { city: 'Paris', days: 3 })
    assert.equal(final.response.message.tool_calls[0].function.name, 'get_weather')
  })

  test('two parallel tool calls in a non-streamed call', async () => {
    const r = await client.complete({ model: 'mockhttp/gpt-4o-mini;tool_call=get_weather;tool_calls=2', prompt: 'x' })
    assert.equal(r.toolCalls.length, 2)
    for (const c of r.toolCalls) assert.deepEqual(c.parsedArguments, JSON.parse(c.arguments))
  })

  for (const noDone of ['1', 'hold']) {
    test(`a stream without [DONE] (no_done=${noDone}) ends promptly, never silently truncated`, async () => {
      const started = Date.now()
      let events = []
      let error
      try {
        events = await collect(client.stream({ model: `mockhttp/gpt-4o-mini;words=4;no_done=${noDone}`, prompt: 'x' }))
      } catch (e) {
        error = e
      }
      assert.ok(Date.now() - started < 5000, `finished in ${Date.now() - started} ms`)
      // Either the core accepts the complete answer (finish_reason was sent) or it reports an error;
      // never a stream that ends without a final event and without an error.
      if (error) {
        assert.ok(error instanceof PolyfuseError, String(error))
      } else {
        assert.equal(events.at(-1).type, 'final')
        assert.equal(events.at(-1).response.text, 'w1 w2 w3 w4')
      }
    })
  }

  test('a stream cut mid-way rejects with a typed error', async () => {
    const e = await rejection(collect(client.stream({ model: 'mockhttp/gpt-4o-mini;words=10;cut_after=3', prompt: 'x' })))
    assert.ok(e instanceof PolyfuseError)
    assert.equal(e.kind, 'connection')
  })

  test('break closes the connection at once', async () => {
    await server.reset()
    const before = (await server.stats()).client_disconnects
    const started = Date.now()
    let seen = 0
    for await (const ev of client.stream({ model: 'mockhttp/gpt-4o-mini;words=50;chunk_delay_ms=200', prompt: 'x' })) {
      if (ev.type === 'text_delta') seen++
      if (seen === 2) break
    }
    assert.ok(Date.now() - started < 3000, 'break did not wait for the rest of the stream')
    const stats = await disconnectedSince(server, before)
    assert.ok(stats, 'the mock server saw the client disconnect')
  })

  test('bad arguments reject on the first next()', async () => {
    const e = await rejection(collect(client.stream({ model: 'mockhttp/gpt-4o-mini', prompt: 'x', bogus: 1 })))
    assert.equal(e.kind, 'invalid_request')
    assert.match(e.message, /bogus/)
  })
})
