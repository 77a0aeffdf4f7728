// onUsage: one event per attempt and one per call (attempts first), exactly once each, whatever
// the call's end, delivered as `(event)`.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { after, before, describe, test } from 'node:test'

import { ROOT, collect, eventually, mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client } = polyfuse

describe('usage events', () => {
  let server
  before(async () => {
    server = await startMockServer()
  })
  after(() => server.stop())

  function recordingClient() {
    const events = []
    const all = []
    const args = []
    const client = new Client({
      config: mockConfig(server),
      onUsage: (...a) => {
        args.push(a.length)
        all.push(a[0])
        if (a[0].level === 'call') events.push(a[0])
      },
    })
    return { client, events, args, all }
  }

  test('after await flushUsage() (or close()) onUsage has seen every finished call, with no waiting', async () => {
    // 3,000 events are more than Node delivers from a threadsafe function's queue in one go.
    const sizes = [1, 50, 3000, 1, 50, 3000]
    for (const [round, n] of sizes.entries()) {
      const { client, events } = recordingClient()
      await Promise.all(Array.from({ length: n }, () => client.complete({ model: 'mock/echo', prompt: 'x' })))
      await collect(client.stream({ model: 'mock/echo', prompt: 'y' }))
      if (round % 2) await client.close()
      else await client.flushUsage()
      assert.equal(events.length, n + 1, `round ${round}`)
      assert.equal(events.at(-1).streamed, true)
    }
    // A client without onUsage flushes too.
    await new Client().flushUsage()
  })

  test('one event per call: complete, stream, failure, abort', async () => {
    const { client, events, args, all } = recordingClient()
    const r = await client.complete({
      model: 'mockhttp/gpt-4o-mini;prompt_tokens=9;completion_tokens=4',
      prompt: 'x',
      tags: { feature: 'search' },
    })
    const streamed = await collect(client.stream({ model: 'mockhttp/gpt-4o-mini;words=3', prompt: 'x' }))
    await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini;status=500', prompt: 'x' }))
    const controller = new AbortController()
    const hanging = client.complete({ model: 'mockhttp/gpt-4o-mini;hang=1', prompt: 'x', signal: controller.signal })
    await eventually(async () => (await server.stats()).in_flight > 0)
    controller.abort()
    await rejection(hanging)
    await client.flushUsage()
    await eventually(() => events.length >= 4, 2000)
    // Give a duplicate every chance to show up.
    await new Promise((r) => setTimeout(r, 200))
    await client.flushUsage()

    assert.equal(events.length, 4)
    assert.ok(args.every((n) => n === 1), 'the callback gets (event), not (err, event)')
    const [ok, st, failed, cancelled] = events
    assert.equal(ok.requestId, r.id)
    assert.equal(ok.outcome, 'ok')
    assert.equal(ok.streamed, false)
    assert.equal(ok.usage.inputTokens, 9)
    assert.equal(ok.usage.outputTokens, 4)
    assert.deepEqual(ok.tags, { feature: 'search' })
    assert.equal(ok.provider, 'mockhttp')
    assert.equal(st.outcome, 'ok')
    assert.equal(st.streamed, true)
    assert.equal(st.requestId, streamed.at(-1).response.id)
    assert.equal(failed.outcome, 'error')
    assert.equal(failed.errorKind, 'server')
    assert.equal(cancelled.outcome, 'cancelled')
    assert.equal(cancelled.errorKind, 'cancelled')
    assert.equal(new Set(events.map((e) => e.requestId)).size, 4)
    // Each call's attempt event came first, with the call as its parent.
    assert.equal(all.length, 8)
    for (const call of events) {
      const i = all.findIndex((e) => e.level === 'attempt' && e.parentId === call.requestId)
      assert.ok(i >= 0 && i < all.indexOf(call), call.requestId)
      assert.equal(all[i].requestId, `${call.requestId}.1`)
      assert.equal(all[i].attempt, 1)
      assert.equal(all[i].outcome, call.outcome)
    }
  })

  test('a stream left with break produces one cancelled event', async () => {
    const { client, events } = recordingClient()
    for await (const ev of client.stream({ model: 'mockhttp/gpt-4o-mini;words=30;chunk_delay_ms=50', prompt: 'x' })) {
      if (ev.type === 'text_delta') break
    }
    await client.flushUsage()
    await eventually(() => events.length >= 1, 2000)
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(events.length, 1)
    assert.equal(events[0].outcome, 'cancelled')
    assert.equal(events[0].streamed, true)
  })

  test('every one of 500 concurrent calls is reported exactly once', async () => {
    const { client, events } = recordingClient()
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => client.complete({ model: `mockhttp/gpt-4o-mini;text=n${i}`, prompt: 'x' })),
    )
    await client.flushUsage()
    await eventually(() => events.length >= 500, 5000)
    assert.equal(events.length, 500)
    assert.deepEqual(new Set(events.map((e) => e.requestId)), new Set(results.map((r) => r.id)))
  })

  test('the process exits by itself: no handle is left open by a client with onUsage', () => {
    const script = `
      const { Client } = require(${JSON.stringify(ROOT)})
      const client = new Client({ onUsage: (e) => console.log('usage', e.outcome) })
      client.complete({ model: 'mock/echo', prompt: 'bye' }).then((r) => console.log('text', r.text))
      const s = client.stream({ model: 'mock/echo', prompt: 'a b c' })
      ;(async () => { for await (const ev of s) if (ev.type === 'final') console.log('final', ev.response.text) })()
    `
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
    assert.equal(run.error, undefined, 'the process did not exit by itself')
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /text bye/)
    assert.match(run.stdout, /final a b c/)
  })
})
