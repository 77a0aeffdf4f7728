// Retries, fallback, mid-stream restarts, timeouts, hedging, cancellation of hedged calls and
// circuit breakers, through the Node binding against the mock server over real sockets.
// Timings are asserted as loose bounds (a 2-core CI box may be slow), never as exact values.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { collect, eventually, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse

/** A config document for the mock server as provider `mockhttp` (snake_case keys, as everywhere). */
function config(server, { policy, routes } = {}) {
  return {
    env_providers: false,
    providers: { mockhttp: { format: 'openai', base_url: server.baseUrl, api_key: 'sk-test-123' } },
    policy: { max_attempts_per_target: 1, ...policy },
    routes: routes ?? {},
  }
}

/** The text of a stream's events after the last `restart` (all of it when there was none). */
function textAfterLastRestart(events) {
  const last = events.findLastIndex((e) => e.type === 'restart')
  return events
    .slice(last + 1)
    .filter((e) => e.type === 'text_delta')
    .map((e) => e.text)
    .join('')
}

const words = (n) => Array.from({ length: n }, (_, i) => `w${i + 1}`).join(' ')

describe('resilience', () => {
  let server
  before(async () => {
    server = await startMockServer()
  })
  after(() => server.stop())

  /** Resolves to the stats once every exchange has ended and `client_disconnects` grew by `n`. */
  async function disconnected(before, n = 1, ms = 5000) {
    return eventually(async () => {
      const s = await server.stats()
      return s.client_disconnects >= before + n && s.in_flight === 0 ? s : null
    }, ms)
  }

  test('429 with Retry-After: 2 is retried on the same target after ~2 s; attempts show both', async () => {
    const client = new Client({ config: config(server, { policy: { max_attempts_per_target: 2 } }) })
    const key = `retry-${Date.now()}`
    const model = `mockhttp/gpt-4o-mini;status=429;retry_after=2;fail_times=1;key=${key}`
    const started = Date.now()
    const r = await client.complete({ model, prompt: 'Hi' })
    const elapsed = Date.now() - started
    assert.ok(elapsed >= 1900, `waited ${elapsed} ms, Retry-After asked for 2 s`)
    assert.ok(elapsed < 6000, `took ${elapsed} ms`)
    assert.equal(r.text, 'Mock answer from gpt-4o-mini: Hi')
    assert.equal(r.attempts.length, 2)
    const [first, second] = r.attempts
    assert.equal(first.outcome, 'error')
    assert.equal(first.errorKind, 'rate_limited')
    assert.equal(first.status, 429)
    assert.equal(first.model, model)
    assert.equal(second.outcome, 'ok')
    assert.equal(second.errorKind, undefined)
    assert.equal((await server.stats()).by_key[key], 2)
  })

  test('a route falls back from a 503 target to the next one, which answers', async () => {
    const client = new Client({
      config: config(server, { routes: { r: { targets: ['mockhttp/a;status=503', 'mockhttp/b'] } } }),
    })
    for (const name of ['route/r', 'r']) {
      const r = await client.complete({ model: name, prompt: 'Hi' })
      assert.equal(r.model, 'mockhttp/b')
      assert.equal(r.provider, 'mockhttp')
      assert.equal(r.route, 'r')
      assert.equal(r.text, 'Mock answer from b: Hi')
      assert.deepEqual(
        r.attempts.map((a) => [a.model, a.outcome, a.status ?? null]),
        [
          ['mockhttp/a;status=503', 'error', 503],
          ['mockhttp/b', 'ok', null],
        ],
      )
    }
  })

  test('a stream cut after 40 of 60 words restarts on the healthy target; the final text is what followed the restart', async () => {
    const client = new Client({
      config: config(server, {
        routes: { c: { targets: ['mockhttp/gpt-4o-mini;words=60;cut_after=40', 'mockhttp/gpt-4o-mini;words=60'] } },
      }),
    })
    const events = await collect(client.stream({ model: 'route/c', prompt: 'Tell me' }))
    const restarts = events.filter((e) => e.type === 'restart')
    assert.equal(restarts.length, 1)
    const restartAt = events.indexOf(restarts[0])
    // Everything before the restart is the cut attempt's 40 words.
    const before = events.slice(0, restartAt)
    assert.ok(before.every((e) => e.type === 'text_delta'))
    assert.equal(before.map((e) => e.text).join(''), words(40))
    assert.equal(restarts[0].model, 'mockhttp/gpt-4o-mini;words=60')
    assert.equal(restarts[0].provider, 'mockhttp')
    assert.equal(typeof restarts[0].reason, 'string')
    assert.ok(restarts[0].reason.length > 0)
    const final = events.at(-1)
    assert.equal(final.type, 'final')
    assert.equal(events.filter((e) => e.type === 'final').length, 1)
    assert.equal(final.response.text, words(60))
    assert.equal(final.response.text, textAfterLastRestart(events))
    assert.equal(final.response.model, 'mockhttp/gpt-4o-mini;words=60')
    assert.deepEqual(
      final.response.attempts.map((a) => a.outcome),
      ['error', 'ok'],
    )
  })

  test('a hanging target times out after policy.attempt_timeout_ms and the fallback answers', async () => {
    const client = new Client({
      config: config(server, {
        policy: { attempt_timeout_ms: 300, first_token_timeout_ms: 300 },
        routes: { f: { targets: ['mockhttp/hung;hang=1', 'mockhttp/ok'] } },
      }),
    })
    let disconnects = (await server.stats()).client_disconnects
    let started = Date.now()
    const r = await client.complete({ model: 'f', prompt: 'Hi' })
    let elapsed = Date.now() - started
    assert.equal(r.model, 'mockhttp/ok')
    assert.ok(elapsed >= 280 && elapsed < 3000, `took ${elapsed} ms`)
    assert.equal(r.attempts[0].errorKind, 'timeout')
    assert.equal(r.attempts[1].outcome, 'ok')
    assert.ok(await disconnected(disconnects), 'the hung connection was closed')

    // The same for a stream: no first token within first_token_timeout_ms.
    disconnects = (await server.stats()).client_disconnects
    started = Date.now()
    const events = await collect(client.stream({ model: 'f', prompt: 'Hi' }))
    elapsed = Date.now() - started
    assert.ok(elapsed >= 280 && elapsed < 3000, `took ${elapsed} ms`)
    assert.ok(!events.some((e) => e.type === 'restart'), 'no output was shown before the fallback')
    assert.equal(events.at(-1).response.model, 'mockhttp/ok')
    assert.equal(events.at(-1).response.text, 'Mock answer from ok: Hi')
    assert.ok(await disconnected(disconnects), 'the hung connection was closed')
  })

  test('hedging: the fast backup answers quickly and the slow request is closed', async () => {
    const client = new Client({
      config: config(server, {
        routes: { h: { targets: ['mockhttp/slow;latency_ms=5000', 'mockhttp/fast'], hedge: { delay_ms: 200 } } },
      }),
    })
    let disconnects = (await server.stats()).client_disconnects
    let started = Date.now()
    const r = await client.complete({ model: 'h', prompt: 'Hi' })
    let elapsed = Date.now() - started
    assert.equal(r.model, 'mockhttp/fast')
    assert.ok(elapsed >= 180 && elapsed < 2000, `took ${elapsed} ms`)
    const byModel = Object.fromEntries(r.attempts.map((a) => [a.model, a.outcome]))
    assert.deepEqual(byModel, { 'mockhttp/fast': 'ok', 'mockhttp/slow;latency_ms=5000': 'cancelled' })
    assert.ok(await disconnected(disconnects, 1, 2000), 'the mock server saw the slow connection closed')

    // A hedged stream: the backup's first event wins the race.
    disconnects = (await server.stats()).client_disconnects
    started = Date.now()
    const events = await collect(client.stream({ model: 'h', prompt: 'Hi' }))
    elapsed = Date.now() - started
    assert.ok(elapsed < 2000, `took ${elapsed} ms`)
    assert.ok(!events.some((e) => e.type === 'restart'))
    assert.equal(events.at(-1).response.model, 'mockhttp/fast')
    assert.equal(events.at(-1).response.text, 'Mock answer from fast: Hi')
    assert.ok(await disconnected(disconnects, 1, 2000), 'the mock server saw the slow stream closed')
  })

  test('abort while the first target hangs and its hedge is in flight: cancelled at once, every upstream connection closed', async () => {
    const client = new Client({
      config: config(server, {
        routes: { ha: { targets: ['mockhttp/a;hang=1', 'mockhttp/b;hang=1'], hedge: { delay_ms: 100 } } },
      }),
    })
    for (const how of ['complete', 'stream']) {
      const before = await server.stats()
      const controller = new AbortController()
      const call =
        how === 'complete'
          ? client.complete({ model: 'ha', prompt: 'x', signal: controller.signal })
          : collect(client.stream({ model: 'ha', prompt: 'x', signal: controller.signal }))
      const both = await eventually(async () => (await server.stats()).in_flight >= 2)
      assert.ok(both, `${how}: the primary and the hedge both reached the server`)
      const started = Date.now()
      controller.abort()
      const e = await rejection(call)
      const elapsed = Date.now() - started
      assert.ok(e instanceof PolyfuseError)
      assert.equal(e.kind, 'cancelled', `${how}: ${e.message}`)
      assert.ok(elapsed < 1000, `${how}: rejected after ${elapsed} ms`)
      const after = await disconnected(before.client_disconnects, 2, 3000)
      assert.ok(after, `${how}: both upstream connections were closed`)
      assert.equal(after.in_flight, 0)
      assert.equal(after.requests - before.requests, 2)
    }
  })

  test('breaker: health() reports a target open after failure_threshold failures, then half-open and closed', async () => {
    const client = new Client({
      config: config(server, {
        policy: { breaker: { failure_threshold: 3, cooldown_ms: 600, wait_when_all_open: false } },
      }),
    })
    assert.deepEqual(client.health(), [])
    const key = `brk-${Date.now()}`
    const model = `mockhttp/gpt-4o-mini;status=503;fail_times=3;key=${key}`
    for (let i = 1; i <= 3; i++) {
      const e = await rejection(client.complete({ model, prompt: 'x' }))
      assert.equal(e.status, 503)
      const [h] = client.health()
      assert.equal(h.target, model)
      assert.equal(h.consecutiveFailures, i)
      assert.equal(h.state, i < 3 ? 'closed' : 'open')
    }
    const [open] = client.health()
    assert.ok(open.retryInMs > 0 && open.retryInMs <= 600, `retryInMs ${open.retryInMs}`)

    // While open, calls fail fast without reaching the server.
    const requests = (await server.stats()).requests
    const e = await rejection(client.complete({ model, prompt: 'x' }))
    assert.equal(e.kind, 'overloaded')
    assert.match(e.message, /breaker/)
    assert.equal((await server.stats()).requests, requests)

    // After the cooldown one probe is let through; it succeeds (fail_times=3) and closes the breaker.
    const half = await eventually(() => client.health()[0].state === 'half_open' && client.health()[0], 3000)
    assert.ok(half, 'the breaker turned half-open after the cooldown')
    assert.equal(half.retryInMs, 0)
    const r = await client.complete({ model, prompt: 'x' })
    assert.equal(r.finishReason, 'stop')
    assert.deepEqual(client.health(), [{ target: model, state: 'closed', consecutiveFailures: 0 }])
  })
})
