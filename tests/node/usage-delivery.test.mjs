// The usage delivery contract in Node: a callback that throws or rejects is reported as a warning
// naming the event and never breaks a call or the process; flushUsage() waits for async callbacks;
// at exit, queued events are delivered without any flush, within usage.exit_flush_ms, and what
// could not be delivered is said on stderr.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { after, before, describe, test } from 'node:test'

import { ROOT, mockConfig, polyfuse, startMockServer } from './helpers.mjs'

const { Client } = polyfuse

function runNode(script, env = {}) {
  return spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  })
}

describe('usage delivery', () => {
  let server
  before(async () => {
    server = await startMockServer()
  })
  after(() => server.stop())

  test('a throwing or rejecting callback is reported with the event id, never fatal', () => {
    const script = `
      const { Client } = require(${JSON.stringify(ROOT)})
      process.on('unhandledRejection', (e) => { console.log('UNHANDLED', String(e)); process.exitCode = 3 })
      let n = 0
      const client = new Client({ onUsage: (e) => { n++; if (e.level === 'call') throw new Error('boom ' + e.requestId) } })
      const asyncClient = new Client({ onUsage: async (e) => { throw new Error('async boom') } })
      ;(async () => {
        for (let i = 0; i < 5; i++) await client.complete({ model: 'mock/echo', prompt: 'x' })
        for (let i = 0; i < 3; i++) await asyncClient.complete({ model: 'mock/echo', prompt: 'y' })
        await client.flushUsage()
        await asyncClient.flushUsage()
        console.log('events', n, 'calls still work:', (await client.complete({ model: 'mock/echo', prompt: 'ok' })).text)
      })()
    `
    const run = runNode(script)
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /events 10 calls still work: ok/)
    assert.doesNotMatch(run.stdout, /UNHANDLED/)
    const warnings = run.stderr.split('\n').filter((l) => l.includes('PolyfuseUsageWarning'))
    // 6 call events of `client` (the last call's too), 2 events of each of the 3 async calls.
    assert.equal(warnings.length, 6 + 6, run.stderr)
    assert.match(run.stderr, /onUsage failed on usage event pf-[0-9a-f]+-[0-9a-f]+ \(call\): Error: boom pf-/)
    assert.match(run.stderr, /async boom/)
  })

  test('flushUsage() waits for the promises of async callbacks', async () => {
    const done = []
    const client = new Client({
      config: mockConfig(server),
      onUsage: async (e) => {
        await new Promise((r) => setTimeout(r, 20))
        done.push(e.level)
      },
    })
    await Promise.all(Array.from({ length: 10 }, () => client.complete({ model: 'mockhttp/gpt-4o-mini', prompt: 'x' })))
    await client.flushUsage()
    assert.equal(done.length, 20)
  })

  test('at exit, queued events are delivered without a flush', () => {
    const config = JSON.stringify(mockConfig(server))
    const script = `
      const { Client } = require(${JSON.stringify(ROOT)})
      const client = new Client({ config: ${config}, onUsage: (e) => console.log('usage', e.level, e.outcome) })
      for (let i = 0; i < 10; i++) client.complete({ model: 'mockhttp/gpt-4o-mini;latency_ms=20', prompt: 'x' }).then(() => console.log('done'))
    `
    for (let round = 0; round < 3; round++) {
      const run = runNode(script)
      assert.equal(run.status, 0, run.stderr)
      assert.equal((run.stdout.match(/^done$/gm) || []).length, 10)
      assert.equal((run.stdout.match(/^usage call ok$/gm) || []).length, 10, `round ${round}: ${run.stdout}`)
      assert.equal((run.stdout.match(/^usage attempt ok$/gm) || []).length, 10)
      assert.doesNotMatch(run.stderr, /not delivered/)
    }
  })

  test('a slow backlog at exit is bounded by usage.exit_flush_ms and reported', () => {
    const config = JSON.stringify({ ...mockConfig(server), usage: { exit_flush_ms: 500 } })
    const script = `
      const { Client } = require(${JSON.stringify(ROOT)})
      const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
      const client = new Client({ config: ${config}, onUsage: () => sleep(30) })
      Promise.all(Array.from({ length: 300 }, () => client.complete({ model: 'mockhttp/gpt-4o-mini', prompt: 'x' })))
        .then(() => console.log('calls done'))
    `
    const started = Date.now()
    const run = runNode(script)
    const took = Date.now() - started
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /calls done/)
    // 600 events at 30 ms each would take 18 s.
    assert.ok(took < 15_000, `${took} ms`)
    assert.match(run.stderr, /usage events were not delivered at exit \(the 0\.5 s bound/)
  })

  test('1,000 concurrent mixed calls: events are exactly the attempts plus the calls', async () => {
    const all = []
    const config = {
      ...mockConfig(server),
      policy: { backoff_initial_ms: 10, backoff_max_ms: 20, breaker: { enabled: false } },
      routes: {
        fallback: { targets: ['mockhttp/down;status=500', 'mockhttp/backup;words=3'] },
        dead: { targets: ['mockhttp/a;error=invalid_api_key', 'mockhttp/b;status=400'] },
      },
    }
    const client = new Client({ config, onUsage: (e) => all.push(e) })
    const n = 1000
    const outcomes = { ok: 0, error: 0, cancelled: 0 }
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const kind = i % 10
        try {
          if (kind <= 2) await client.complete({ model: 'mockhttp/ok;words=2', prompt: `call ${i}` })
          else if (kind === 3)
            await client.complete({ model: `mockhttp/flaky;status=503;fail_times=1;key=node-retry-${i}`, prompt: 'x', tags: { kind: 'retry' } })
          else if (kind === 4) await client.complete({ model: 'fallback', prompt: 'x' })
          else if (kind === 5) await client.complete({ model: 'dead', prompt: 'x' })
          else if (kind === 6) for await (const _ of client.stream({ model: 'mockhttp/s;words=4', prompt: 'x' }));
          else if (kind === 7) for await (const _ of client.stream({ model: 'mockhttp/s;words=40;chunk_delay_ms=5', prompt: 'x' })) break
          else if (kind === 8) {
            const c = new AbortController()
            const p = client.complete({ model: 'mockhttp/slow;latency_ms=2000', prompt: 'x', signal: c.signal })
            c.abort() // right after the call
            await p
          } else {
            const c = new AbortController()
            c.abort() // already aborted: nothing is sent
            await client.complete({ model: 'mockhttp/never', prompt: 'x', signal: c.signal })
          }
          outcomes.ok++
        } catch (e) {
          outcomes[e.kind === 'cancelled' ? 'cancelled' : 'error']++
        }
      }),
    )
    await client.flushUsage()
    assert.deepEqual(outcomes, { ok: 700, error: 100, cancelled: 200 })
    const calls = all.filter((e) => e.level === 'call')
    const attempts = all.filter((e) => e.level === 'attempt')
    assert.equal(calls.length, n)
    assert.equal(new Set(calls.map((e) => e.requestId)).size, n)
    assert.equal(new Set(attempts.map((e) => e.requestId)).size, attempts.length)
    const byCall = new Map()
    for (const a of attempts) byCall.set(a.parentId, (byCall.get(a.parentId) || 0) + 1)
    for (const c of calls) assert.equal(byCall.get(c.requestId) || 0, c.attempts.length, c.requestId)
    const count = (o) => calls.filter((c) => c.outcome === o).length
    assert.deepEqual([count('ok'), count('error'), count('cancelled')], [600, 100, 300])
    const retried = calls.filter((c) => c.tags.kind === 'retry')
    assert.ok(retried.every((c) => c.attempts.map((a) => a.outcome).join() === 'error,ok'))
    const never = calls.filter((c) => c.model === 'mockhttp/never')
    assert.equal(never.length, 100)
    assert.ok(never.every((c) => c.attempts.length === 0))
    assert.equal((await server.stats()).by_key.never, undefined, 'nothing was sent for them')
    const u = client.usage()
    assert.equal(u.total.calls, n)
    assert.equal(u.total.errors, 100)
    assert.equal(u.total.cancelled, 300)
    assert.ok(u.byModel['mockhttp/ok'].latencyMs.p50 > 0)
    assert.equal(client.deliveryStats().dropped, 0)
  })
})
