// The one call engine as Node users see it (the same cases as tests/python/test_engine.py):
// streams retry the same target before falling back, a JSON answer to a stream request,
// refusals as text, where usage figures come from, built-in providers overridden by name, and a
// failed route's error naming the route and each failure. Over real sockets to the mock server.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { collect, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse
const KEY = 'sk-test-123'

describe('one call engine', () => {
  let server
  before(async () => {
    server = await startMockServer()
  })
  after(() => server.stop())

  const client = (extra = {}) =>
    new Client({
      config: {
        env_providers: false,
        providers: { p: { format: 'openai', base_url: server.baseUrl, api_key: KEY } },
        policy: { backoff_initial_ms: 50, breaker: { enabled: false } },
        ...extra,
      },
    })

  for (const [fault, kind] of [
    ['status=429;retry_after=1', 'rate_limited'],
    ['status=500', 'server'],
    ['status=408', 'timeout'],
  ]) {
    test(`a stream retries the primary after ${fault} before the fallback`, async () => {
      const key = `node-${fault.split(';')[0]}`
      const c = client({ routes: { r: { targets: [`p/primary;${fault};fail_times=1;key=${key}`, 'p/backup'] } } })
      const events = await collect(c.stream({ model: 'r', prompt: 'hi' }))
      const final = events.at(-1)
      assert.equal(final.type, 'final')
      assert.ok(final.response.model.startsWith('p/primary'), final.response.model)
      const attempts = final.response.attempts
      assert.deepEqual(
        attempts.map((a) => [a.outcome, a.errorKind ?? null]),
        [['error', kind], ['ok', null]],
      )
      assert.equal(attempts[1].number, 2)
      assert.equal(attempts[1].fallback, false)
    })
  }

  test('a JSON answer to a stream request is the complete answer', async () => {
    const c = client()
    const model = 'p/m;json_stream=1;text=whole answer'
    const r = await c.complete({ model, prompt: 'hi' })
    assert.equal(r.text, 'whole answer')
    assert.equal(r.attempts.length, 1)
    const events = await collect(c.stream({ model, prompt: 'hi' }))
    assert.equal(events.filter((e) => e.type === 'text_delta').map((e) => e.text).join(''), 'whole answer')
    assert.equal(events.at(-1).type, 'final')
    assert.equal(events.at(-1).response.text, 'whole answer')
  })

  test('a refusal is the text, streamed or not', async () => {
    const c = client()
    const model = "p/m;refusal=I%27m sorry, I can%27t help."
    const r = await c.complete({ model, prompt: 'hi' })
    assert.equal(r.text, "I'm sorry, I can't help.")
    assert.equal(r.message.refusal, "I'm sorry, I can't help.")
    const events = await collect(c.stream({ model, prompt: 'hi' }))
    assert.equal(events.filter((e) => e.type === 'text_delta').map((e) => e.text).join(''), "I'm sorry, I can't help.")
  })

  test('usage says where its figures come from; totals come from the core', async () => {
    const c = client({ routes: { r: { targets: ['p/x;status=500;key=node-none', 'p/y;usage=0;words=8'] } } })
    const r = await c.complete({ model: 'r', prompt: 'count these words please' })
    const [rejected, answered] = [r.attempts[0], r.attempts.at(-1)]
    assert.equal(rejected.usage.source, 'none')
    assert.equal(rejected.usage.totalTokens, 0)
    assert.equal(answered.usage.source, 'estimated')
    assert.ok(answered.usage.outputTokens > 0)
    assert.equal(answered.fallback, true)
    assert.equal(r.usage.totalTokens, r.usage.inputTokens + r.usage.outputTokens)
    const reported = await c.complete({ model: 'p/z;words=3', prompt: 'hi' })
    assert.equal(reported.usage.source, 'reported')
    assert.equal(reported.usage.totalTokens, reported.openai.usage.total_tokens)
  })

  test('a built-in provider is overridden by name (no format needed)', async () => {
    const c = new Client({ config: { env_providers: false, providers: { openai: { base_url: server.baseUrl, api_key: KEY } } } })
    const r = await c.complete({ model: 'openai/gpt-4o-mini;text=via proxy', prompt: 'hi' })
    assert.equal(r.text, 'via proxy')
    assert.equal(r.provider, 'openai')
  })

  test("a failed route's error names the route and how each target failed", async () => {
    const c = client({ routes: { chat: { targets: ['p/a;status=429', 'p/b;error=server_error'] } } })
    const err = await rejection(c.complete({ model: 'chat', prompt: 'hi' }))
    assert.ok(err instanceof PolyfuseError)
    assert.match(err.message, /route `chat`/)
    assert.match(err.message, /4 attempts/)
    assert.ok(err.message.includes('p/a;status=429 rate_limited (HTTP 429) x2'), err.message)
    assert.ok(err.message.includes('p/b;error=server_error server (HTTP 500) x2'), err.message)
    assert.equal(err.attempts.length, 4)
  })
})
