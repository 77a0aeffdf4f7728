// The stream's read-ahead queue (issue 12): a producer task reads the core stream ahead of
// next() into a bounded queue. What is queued is delivered in order and before the error or the
// end; break, an AbortSignal and a garbage-collected stream still close the connection; next()
// calls made at once settle in the order they were made.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { after, before, describe, test } from 'node:test'

import { ROOT, disconnectedSince, eventually, mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse

describe('stream read-ahead', () => {
  let server
  let client
  let usage
  before(async () => {
    server = await startMockServer()
    usage = []
    client = new Client({
      config: mockConfig(server, { policy: { stream_idle_timeout_ms: 30_000 } }),
      onUsage: (e) => {
        if (e.level === 'call') usage.push(e)
      },
    })
  })
  after(() => server.stop())

  test('events queued before an error are all delivered before the rejection', async () => {
    await server.reset()
    const s = client.stream({ model: 'mockhttp/gpt-4o-mini;words=10;cut_after=6', prompt: 'x' })
    const first = await s.next()
    assert.equal(first.value.type, 'text_delta')
    // The server has cut the stream: what it sent before is read ahead, the error behind it.
    assert.ok(await eventually(async () => (await server.stats()).in_flight === 0))
    const texts = [first.value.text]
    const e = await rejection(
      (async () => {
        for (;;) {
          const r = await s.next()
          assert.equal(r.done, false, 'the stream ended without its error')
          if (r.value.type === 'text_delta') texts.push(r.value.text)
        }
      })(),
    )
    assert.ok(e instanceof PolyfuseError, String(e))
    assert.equal(e.kind, 'connection')
    assert.equal(texts.join(''), 'w1 w2 w3 w4 w5 w6')
    assert.deepEqual(await s.next(), { done: true, value: undefined })
  })

  test('the end is delivered after every queued event', async () => {
    const s = client.stream({ model: 'mockhttp/gpt-4o-mini;words=30', prompt: 'x' })
    const first = await s.next()
    assert.ok(await eventually(async () => (await server.stats()).in_flight === 0))
    const events = [first.value]
    for await (const ev of s) events.push(ev)
    const deltas = events.filter((e) => e.type === 'text_delta')
    assert.equal(deltas.length, 30)
    assert.equal(events.at(-1).type, 'final')
    assert.equal(events.at(-1).response.text, deltas.map((d) => d.text).join(''))
  })

  test('next() calls made at once settle in the order they were made', async () => {
    const s = client.stream({ model: 'mockhttp/gpt-4o-mini;words=5', prompt: 'x' })
    const rs = await Promise.all(Array.from({ length: 10 }, () => s.next()))
    assert.deepEqual(
      rs.slice(0, 5).map((r) => r.value.text),
      ['w1', ' w2', ' w3', ' w4', ' w5'],
    )
    assert.equal(rs[5].value.type, 'final')
    for (const r of rs.slice(6)) assert.deepEqual(r, { done: true, value: undefined })
  })

  test('break while events are queued closes the connection and records the call as cancelled', async () => {
    const before = (await server.stats()).client_disconnects
    usage.length = 0
    // 20 chunks at once, then the server holds the connection open.
    const s = client.stream({ model: 'mockhttp/gpt-4o-mini;words=40;stall_after=20', prompt: 'x' })
    const first = await s.next()
    const second = await s.next()
    assert.equal(second.value.type, 'text_delta')
    assert.equal(first.value.text + second.value.text, 'w1 w2')
    assert.deepEqual(await s.return(), { done: true, value: undefined })
    assert.deepEqual(await s.next(), { done: true, value: undefined })
    assert.ok(await disconnectedSince(server, before), 'the mock server saw the client disconnect')
    await client.flushUsage()
    assert.ok(await eventually(() => usage.length >= 1))
    assert.equal(usage.length, 1)
    assert.equal(usage[0].outcome, 'cancelled')
  })

  test('a pending next() settles done when return() is called', async () => {
    const before = (await server.stats()).client_disconnects
    const s = client.stream({ model: 'mockhttp/gpt-4o-mini;words=5;stall_after=1', prompt: 'x' })
    await s.next()
    const pending = s.next() // nothing more comes: it waits
    await s.return()
    assert.deepEqual(await pending, { done: true, value: undefined })
    assert.ok(await disconnectedSince(server, before))
  })

  test('an abort with events queued rejects the next next() with cancelled, then the stream is done', async () => {
    const before = (await server.stats()).client_disconnects
    const controller = new AbortController()
    const s = client.stream({ model: 'mockhttp/gpt-4o-mini;words=40;stall_after=20', prompt: 'x', signal: controller.signal })
    await s.next()
    controller.abort()
    const e = await rejection(s.next())
    assert.ok(e instanceof PolyfuseError)
    assert.equal(e.kind, 'cancelled')
    assert.deepEqual(await s.next(), { done: true, value: undefined })
    assert.ok(await disconnectedSince(server, before), 'the mock server saw the client disconnect')
  })

  test('an abort while next() waits rejects it with cancelled', async () => {
    const controller = new AbortController()
    const s = client.stream({ model: 'mockhttp/gpt-4o-mini;words=5;stall_after=1', prompt: 'x', signal: controller.signal })
    await s.next()
    const pending = s.next()
    controller.abort()
    assert.equal((await rejection(pending)).kind, 'cancelled')
  })

  test('read-ahead is bounded: a long stream read one event deep is not read to its end', async () => {
    // The in-process mock answers at once, 500 chunks: a producer without a bound would reach the
    // end (and the call would be recorded ok) long before return().
    const calls = []
    const text = Array.from({ length: 500 }, (_, i) => `w${i + 1}`).join(' ')
    const local = new Client({
      config: { env_providers: false, mock: { models: { long: { text } } } },
      onUsage: (e) => {
        if (e.level === 'call') calls.push(e)
      },
    })
    const s = local.stream({ model: 'mock/long', prompt: 'x' })
    assert.equal((await s.next()).value.text, 'w1')
    // Other calls run meanwhile, so the producer has had its time to read ahead.
    for (let i = 0; i < 20; i++) await local.complete({ model: 'mock/echo', prompt: 'x' })
    await s.return()
    await local.flushUsage()
    const streamed = calls.filter((e) => e.model === 'mock/long')
    assert.equal(streamed.length, 1)
    assert.equal(streamed[0].outcome, 'cancelled')
  })

  test('a stream dropped unread is garbage collected and its connection closed', async () => {
    const before = (await server.stats()).client_disconnects
    const script = `
      const { Client } = require(${JSON.stringify(ROOT)})
      const [baseUrl, statsUrl] = process.argv.slice(1)
      const client = new Client({ config: { env_providers: false, providers: { m: { format: 'openai', base_url: baseUrl, api_key: 'k' } } } })
      ;(async () => {
        let s = client.stream({ model: 'm/gpt-4o-mini;words=40;stall_after=20', prompt: 'x' })
        await s.next()
        s = null
        for (let i = 0; i < 200; i++) {
          globalThis.gc()
          await new Promise((r) => setTimeout(r, 20))
          const stats = await (await fetch(statsUrl)).json()
          if (stats.client_disconnects > ${before} && stats.in_flight === 0) { console.log('closed'); return }
        }
        console.log('still open')
      })()
    `
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script, server.baseUrl, `${server.url}/_mock/stats`], {
      encoding: 'utf8',
      timeout: 30_000,
    })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), 'closed', r.stderr)
  })
})
