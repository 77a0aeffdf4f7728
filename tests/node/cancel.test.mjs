// AbortSignal cancels the in-flight request (the connection is closed), also mid-stream.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { collect, disconnectedSince, eventually, mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse

describe('cancellation', () => {
  let server
  let client
  before(async () => {
    server = await startMockServer()
    client = new Client({ config: mockConfig(server) })
  })
  after(() => server.stop())

  test('abort during a hanging request rejects with cancelled and closes the connection', async () => {
    const before = (await server.stats()).client_disconnects
    const controller = new AbortController()
    const call = client.complete({ model: 'mockhttp/gpt-4o-mini;hang=1', prompt: 'x', signal: controller.signal })
    await eventually(async () => (await server.stats()).in_flight > 0)
    const started = Date.now()
    controller.abort()
    const e = await rejection(call)
    assert.ok(Date.now() - started < 2000)
    assert.ok(e instanceof PolyfuseError)
    assert.equal(e.kind, 'cancelled')
    assert.ok(await disconnectedSince(server, before), 'the mock server saw the client disconnect')
  })

  test('abort mid-stream rejects the iteration with cancelled and closes the connection', async () => {
    const before = (await server.stats()).client_disconnects
    const controller = new AbortController()
    const seen = []
    const e = await rejection(
      (async () => {
        for await (const ev of client.stream({
          model: 'mockhttp/gpt-4o-mini;words=40;chunk_delay_ms=100',
          prompt: 'x',
          signal: controller.signal,
        })) {
          seen.push(ev)
          if (seen.length === 2) controller.abort()
        }
      })(),
    )
    assert.equal(e.kind, 'cancelled')
    assert.ok(seen.length >= 2 && seen.length < 40)
    assert.ok(await disconnectedSince(server, before), 'the mock server saw the client disconnect')
  })

  test('an already-aborted signal rejects at once and sends nothing', async () => {
    await server.reset()
    const controller = new AbortController()
    controller.abort()
    const e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini', prompt: 'x', signal: controller.signal }))
    assert.equal(e.kind, 'cancelled')
    const s = await rejection(collect(client.stream({ model: 'mockhttp/gpt-4o-mini', prompt: 'x', signal: controller.signal })))
    assert.equal(s.kind, 'cancelled')
    assert.equal((await server.stats()).requests, 0)
  })

  test('a signal that never fires changes nothing; one signal can serve several calls', async () => {
    const controller = new AbortController()
    const rs = await Promise.all([1, 2, 3].map((i) => client.complete({ model: `mockhttp/gpt-4o-mini;text=ok${i}`, prompt: 'x', signal: controller.signal })))
    assert.deepEqual(rs.map((r) => r.text), ['ok1', 'ok2', 'ok3'])
    const hanging = client.complete({ model: 'mockhttp/gpt-4o-mini;hang=1', prompt: 'x', signal: controller.signal })
    controller.abort()
    assert.equal((await rejection(hanging)).kind, 'cancelled')
  })

  test('a signal that is not an AbortSignal is rejected', async () => {
    const e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini', prompt: 'x', signal: {} }))
    assert.equal(e.kind, 'invalid_request')
    assert.match(e.message, /signal/)
  })
})
