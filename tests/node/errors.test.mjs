// Provider errors become PolyfuseErrors with the right kind and fields, and never carry a key.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { inspect } from 'node:util'

import { BAD_KEY, collect, mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse

function assertNoKey(e) {
  const fragments = [BAD_KEY, 'secret-123456', 'key-secret', '123456']
  const views = [e.message, e.stack, JSON.stringify(e), inspect(e, { depth: 10 }), String(e)]
  for (const view of views) for (const f of fragments) assert.ok(!view.includes(f), `"${f}" leaked: ${view}`)
}

describe('errors', () => {
  let server
  let client
  before(async () => {
    server = await startMockServer()
    client = new Client({ config: mockConfig(server) })
  })
  after(() => server.stop())

  test('401 → authentication, and the key appears nowhere', async () => {
    const e = await rejection(client.complete({ model: 'badkey/gpt-4o-mini', prompt: 'x' }))
    assert.ok(e instanceof PolyfuseError)
    assert.ok(e instanceof Error)
    assert.equal(e.name, 'AuthenticationError')
    assert.ok(e instanceof polyfuse.AuthenticationError)
    assert.equal(e.kind, 'authentication')
    assert.equal(e.status, 401)
    assert.equal(e.provider, 'badkey')
    assert.equal(e.retryable, false)
    assertNoKey(e)
    // The same through a stream.
    const s = await rejection(collect(client.stream({ model: 'badkey/gpt-4o-mini', prompt: 'x' })))
    assert.equal(s.kind, 'authentication')
    assertNoKey(s)
  })

  test('429 → rate_limited with retryAfterMs', async () => {
    const e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini;status=429;retry_after=2', prompt: 'x' }))
    assert.equal(e.kind, 'rate_limited')
    assert.equal(e.status, 429)
    assert.equal(e.retryAfterMs, 2000)
    assert.equal(e.retryable, true)
    assert.equal(e.model, 'mockhttp/gpt-4o-mini;status=429;retry_after=2')
    assert.ok(e.attempts.length >= 1)
    assert.equal(e.attempts.at(-1).errorKind, 'rate_limited')
    assert.equal(e.attempts.at(-1).status, 429)
  })

  test('500 → server', async () => {
    const e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini;status=500', prompt: 'x' }))
    assert.equal(e.kind, 'server')
    assert.equal(e.status, 500)
  })

  test('insufficient_quota → quota', async () => {
    const e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini;error=insufficient_quota', prompt: 'x' }))
    assert.equal(e.kind, 'quota')
    assert.equal(e.status, 429)
    assert.equal(e.providerCode, 'insufficient_quota')
    assert.equal(e.retryable, false)
  })

  test('a connection reset → connection', async () => {
    const e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini;reset=1', prompt: 'x' }))
    assert.equal(e.kind, 'connection')
  })
})
