// One error class per kind, built from the core's list: every failure is an instance of the class
// of its kind, of PolyfuseError and of Error, keeps `kind`, and is named after its class.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { collect, mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse

/** `{ kind: class }` for every subclass the module exports (the core's ErrorKind::ALL). */
const classOfKind = Object.fromEntries(
  Object.values(polyfuse)
    .filter((v) => typeof v === 'function' && v.prototype instanceof PolyfuseError)
    .map((cls) => [cls.kind, cls]),
)

function assertClass(e, kind) {
  const cls = classOfKind[kind]
  assert.ok(cls, `no class for kind ${kind}`)
  assert.ok(e instanceof cls, `${e?.name}: ${e?.message} is not a ${cls.name}`)
  assert.ok(e instanceof PolyfuseError)
  assert.ok(e instanceof Error)
  assert.equal(Object.getPrototypeOf(e), cls.prototype)
  assert.equal(e.kind, kind)
  assert.equal(e.name, cls.name)
  assert.match(e.stack, new RegExp(`^${cls.name}: `))
  assert.match(String(e), new RegExp(`^${cls.name}: `))
}

describe('error classes', () => {
  test('one class per kind of the core, each a named PolyfuseError subclass with a static kind', () => {
    const kinds = Object.keys(classOfKind)
    // The core has 17 kinds today; the point is that each is distinct and has its own class.
    assert.ok(kinds.length >= 17, kinds.join(', '))
    assert.equal(new Set(Object.values(classOfKind)).size, kinds.length)
    for (const [kind, cls] of Object.entries(classOfKind)) {
      assert.match(cls.name, /^[A-Z][A-Za-z]+Error$/)
      assert.equal(polyfuse[cls.name], cls)
      assert.equal(Object.getPrototypeOf(cls), PolyfuseError)
      // A user-built instance keeps its class's kind, whatever the fields say.
      const e = new cls('made by hand', { kind: 'server', status: 418 })
      assert.equal(e.kind, kind)
      assert.equal(e.status, 418)
      assert.equal(e.message, 'made by hand')
    }
    for (const name of ['RateLimitError', 'AuthenticationError', 'TimeoutError', 'ConfigError', 'CancelledError']) {
      assert.equal(typeof polyfuse[name], 'function', name)
    }
  })

  test('every kind, scripted on the in-process mock provider, arrives as its class (complete and stream)', async () => {
    const kinds = Object.keys(classOfKind)
    const models = Object.fromEntries(kinds.map((kind) => [`fail_${kind}`, { fail: { kind } }]))
    const client = new Client({
      config: { env_providers: false, policy: { max_attempts_per_target: 1 }, mock: { models } },
    })
    for (const kind of kinds) {
      const e = await rejection(client.complete({ model: `mock/fail_${kind}`, prompt: 'x' }))
      assertClass(e, kind)
      assert.equal(e.provider, 'mock')
      const s = await rejection(collect(client.stream({ model: `mock/fail_${kind}`, prompt: 'x' })))
      assertClass(s, kind)
    }
  })

  describe('over real HTTP (the mock provider server)', () => {
    let server
    let client
    before(async () => {
      server = await startMockServer()
      client = new Client({ config: mockConfig(server, { policy: { breaker: { enabled: false } } }) })
    })
    after(() => server.stop())

    // Every kind the mock server can produce, by the options that produce it.
    const cases = [
      ['status=429;retry_after=1', 'rate_limited'],
      ['error=overloaded', 'overloaded'],
      ['status=500', 'server'],
      ['error=bad_gateway', 'server'],
      ['error=insufficient_quota', 'quota'],
      ['error=permission_denied', 'permission'],
      ['error=invalid_request', 'invalid_request'],
      ['error=model_not_found', 'invalid_request'],
      ['error=context_length_exceeded', 'context_window_exceeded'],
      ['error=content_filter', 'content_filtered'],
      ['reset=1', 'connection'],
      ['malformed_at=1', 'invalid_response'],
    ]
    for (const [options, kind] of cases) {
      test(`${options} → ${classOfKind[kind]?.name}`, async () => {
        const model = `mockhttp/gpt-4o-mini;${options}`
        assertClass(await rejection(client.complete({ model, prompt: 'x' })), kind)
        assertClass(await rejection(collect(client.stream({ model, prompt: 'x' }))), kind)
      })
    }

    test('a bad key → AuthenticationError', async () => {
      assertClass(await rejection(client.complete({ model: 'badkey/gpt-4o-mini', prompt: 'x' })), 'authentication')
    })

    test('a deadline → TimeoutError', async () => {
      const e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini;hang=1', prompt: 'x', timeoutMs: 200 }))
      assertClass(e, 'timeout')
    })

    test('an AbortSignal → CancelledError', async () => {
      const controller = new AbortController()
      const call = client.complete({ model: 'mockhttp/gpt-4o-mini;hang=1', prompt: 'x', signal: controller.signal })
      controller.abort()
      assertClass(await rejection(call), 'cancelled')
    })
  })

  test('a bad config → ConfigError; bad arguments → InvalidRequestError', async () => {
    let thrown
    try {
      new Client({ config: { polcy: {} } })
    } catch (e) {
      thrown = e
    }
    assertClass(thrown, 'config')
    assert.match(thrown.message, /polcy/)
    const e = await rejection(new Client().complete({ model: 'mock/echo', prompt: 'x', temprature: 1 }))
    assertClass(e, 'invalid_request')
  })
})
