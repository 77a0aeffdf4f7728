// Fusion from Node over the real mock server: every mode with scripted members and a scripted judge
// (their answers are the mock server's `text=` knob), the `fusion/<name>` model string in
// complete() and stream(), fuseStream(), failed members, stragglers cancelled at quorum and grace,
// and an AbortSignal (or `break`) closing every member's connection.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { collect, eventually, mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError, InvalidRequestError } = polyfuse
const M = 'mockhttp'

/** A judge whose answer is a verdict naming `winner` (no `;` in it: a knob separator). */
function judge(winner, scores = {}) {
  const verdict = { scores, winner, confidence: 'high', rationale: 'it is right' }
  return `${M}/judge-model;text=Notes: checked each answer. ${JSON.stringify(verdict)}`
}

describe('fusion', () => {
  let server
  let client
  let events
  before(async () => {
    server = await startMockServer()
    events = []
    const config = {
      ...mockConfig(server),
      fusions: { panel: { pool: [`${M}/p1;text=4`, `${M}/p2;text=four`], judge: judge('A'), mode: 'best-of' } },
    }
    client = new Client({ config, onUsage: (e) => events.push(e) })
  })
  after(() => server.stop())

  async function disconnects(atLeast) {
    return eventually(async () => {
      const s = await server.stats()
      return s.client_disconnects >= atLeast ? s.client_disconnects : null
    })
  }

  test('best-of returns the judged winner verbatim, with scores and usage parented to the fusion', async () => {
    const pool = [`${M}/alpha;text=The answer is 4.`, `${M}/beta;text=It is four.`, `${M}/gamma;text=Maybe 5.`]
    const r = await client.fuse({ prompt: 'What is 2+2?', pool, judge: judge('B', { A: 6, B: 9, C: 2 }), mode: 'best-of', seed: 7 })
    assert.deepEqual([r.mode, r.parsePath, r.winner, r.calls, r.degraded], ['best-of', 'json', 'B', 4, false])
    const winner = r.candidates.find((c) => c.label === 'B')
    assert.equal(r.answer, winner.text)
    assert.equal(winner.score, 9)
    assert.deepEqual(r.scores, { A: 6, B: 9, C: 2 })
    assert.deepEqual(r.candidates.map((c) => c.model), pool)
    assert.ok(r.candidates.every((c) => c.status === 'ok'))
    assert.deepEqual(r.judge.map((j) => j.purpose), ['verdict'])
    assert.equal(r.seed, 7)
    const again = await client.fuse({ prompt: 'What is 2+2?', pool, judge: judge('B'), mode: 'best-of', seed: 7 })
    assert.deepEqual(again.order, r.order)
    await client.flushUsage()
    assert.equal(events.filter((e) => e.level === 'call' && e.parentId === r.id).length, 4)
    const fusionEvents = events.filter((e) => e.level === 'fusion' && e.requestId === r.id)
    assert.equal(fusionEvents.length, 1)
    assert.equal(fusionEvents[0].usage.outputTokens, r.usage.outputTokens)
  })

  test('merge: two judge calls, or one with the FINAL ANSWER marker', async () => {
    const pool = [`${M}/alpha;text=Paris.`, `${M}/beta;text=Lyon, I think.`]
    const r = await client.fuse({ prompt: 'Capital of France?', pool, judge: `${M}/judge;text=Paris is the capital.` })
    assert.deepEqual([r.mode, r.answer, r.calls], ['merge', 'Paris is the capital.', 4])
    assert.deepEqual(r.judge.map((j) => j.purpose), ['analysis', 'synthesis'])
    const one = await client.fuse({
      messages: [{ role: 'user', content: 'Capital of France?' }],
      pool,
      judge: `${M}/judge;text=B is wrong. FINAL ANSWER: Paris.`,
      singleCall: true,
    })
    assert.deepEqual([one.answer, one.parsePath, one.calls], ['Paris.', 'marker', 3])
  })

  test('vote counts extracted answers without a judge', async () => {
    const pool = [`${M}/a;text=Work... Final answer: 4`, `${M}/b;text=Final answer: 4`, `${M}/c;text=Final answer: 5`]
    const r = await client.fuse({ prompt: '2+2?', pool, mode: 'vote', extractor: 'final_answer' })
    assert.deepEqual([r.mode, r.parsePath, r.calls, r.judge.length], ['vote', 'vote', 3, 0])
    assert.deepEqual([r.vote.counts[0].answer, r.vote.counts[0].votes, r.vote.tie], ['4', 2, false])
    assert.ok(Math.abs(r.vote.confidence - 2 / 3) < 1e-9)
  })

  test('debate runs a revision round', async () => {
    const r = await client.fuse({ prompt: '2+2?', pool: [`${M}/one;text=4`, `${M}/two;text=5`], judge: judge('A'), mode: 'debate', rounds: 1 })
    assert.equal(r.mode, 'debate')
    assert.deepEqual(r.rounds.map((d) => d.round), [0, 1])
    assert.ok(['4', '5'].includes(r.answer))
  })

  test('fusion/<name> in complete() and stream() carries the result on response.fusion', async () => {
    const r = await client.complete({ model: 'fusion/panel', prompt: '2+2?' })
    assert.deepEqual([r.model, r.provider], ['fusion/panel', 'fusion'])
    assert.equal(r.fusion.name, 'panel')
    assert.equal(r.text, r.fusion.answer)
    assert.equal(r.fusion.calls, 3)
    const evs = await collect(client.stream({ model: 'fusion/panel', prompt: '2+2?' }))
    const final = evs.at(-1)
    assert.equal(final.type, 'final')
    assert.equal(final.response.fusion.mode, 'best-of')
    assert.equal(evs.filter((e) => e.type === 'text_delta').map((e) => e.text).join(''), final.response.text)
    const e = await rejection(client.complete({ model: 'fusion/nope', prompt: 'x' }))
    assert.match(e.message, /no fusion named `nope`/)
  })

  test('fuseStream reports the members, then streams the answer', async () => {
    const pool = [`${M}/a;text=Paris.;latency_ms=10`, `${M}/b;text=Lyon.;latency_ms=40`]
    const evs = await collect(
      client.fuseStream({ prompt: 'Capital?', pool, judge: `${M}/judge;text=A is right. FINAL ANSWER: Paris it is.`, singleCall: true }),
    )
    assert.equal(evs[0].type, 'started')
    assert.deepEqual(evs[0].members, pool)
    const members = evs.filter((e) => e.type === 'member')
    assert.deepEqual(members.map((m) => m.candidate.model).sort(), [...pool].sort())
    assert.ok(evs.some((e) => e.type === 'judging' && e.purpose === 'merge'))
    const final = evs.at(-1)
    assert.equal(final.type, 'final')
    const deltas = evs.filter((e) => e.type === 'text_delta')
    assert.ok(deltas.length >= 2)
    assert.equal(deltas.map((e) => e.text).join(''), final.result.answer)
    assert.equal(final.result.answer, 'Paris it is.')
    assert.ok(evs.indexOf(deltas[0]) > evs.indexOf(members.at(-1)))
  })

  test('a failed member is reported; one usable answer is degraded; none is an error naming each', async () => {
    const r = await client.fuse({ prompt: '2+2?', pool: [`${M}/a;text=4`, `${M}/b;status=500`, `${M}/c;text=four`], judge: judge('A'), mode: 'best-of' })
    assert.deepEqual([r.candidates[1].status, r.candidates[1].errorKind, r.candidates[1].label], ['failed', 'server', undefined])
    assert.equal(r.parsePath, 'json')
    const one = await client.fuse({ prompt: '2+2?', pool: [`${M}/a;text=4`, `${M}/b;status=500`], judge: judge('A') })
    assert.deepEqual([one.degraded, one.parsePath, one.answer, one.calls], [true, 'single', '4', 2])
    const e = await rejection(client.fuse({ prompt: '2+2?', pool: [`${M}/x;status=500`, `${M}/y;status=503`], judge: judge('A') }))
    assert.ok(e instanceof PolyfuseError)
    assert.match(e.message, /x;status=500/)
    assert.match(e.message, /y;status=503/)
  })

  test('stragglers after quorum and grace are cancelled and their connections closed', async () => {
    const before = (await server.stats()).client_disconnects
    const pool = [`${M}/a;text=4;latency_ms=20`, `${M}/b;text=four;latency_ms=40`, `${M}/slow;hang=1`]
    const r = await client.fuse({ prompt: '2+2?', pool, judge: judge('A'), mode: 'best-of', quorum: 2, graceMs: 100 })
    assert.deepEqual(r.candidates.map((c) => c.status), ['ok', 'ok', 'cancelled'])
    assert.equal(await disconnects(before + 1), before + 1)
  })

  test('an AbortSignal cancels every member', async () => {
    const before = await server.stats()
    const controller = new AbortController()
    const pool = [`${M}/a;hang=1`, `${M}/b;hang=1`, `${M}/c;hang=1`]
    const call = client.fuse({ prompt: '2+2?', pool, judge: judge('A'), signal: controller.signal })
    await eventually(async () => (await server.stats()).requests >= before.requests + 3)
    controller.abort()
    const e = await rejection(call)
    assert.equal(e.kind, 'cancelled')
    assert.equal(await disconnects(before.client_disconnects + 3), before.client_disconnects + 3)
    const aborted = await rejection(client.fuse({ prompt: 'x', pool, judge: judge('A'), signal: AbortSignal.abort() }))
    assert.equal(aborted.kind, 'cancelled')
  })

  test('break in for await over fuseStream closes the members still running', async () => {
    const before = (await server.stats()).client_disconnects
    const pool = [`${M}/a;hang=1`, `${M}/b;hang=1`, `${M}/c;text=x`]
    for await (const ev of client.fuseStream({ prompt: 'q', pool, judge: judge('A') })) {
      if (ev.type === 'member') break
    }
    assert.equal(await disconnects(before + 2), before + 2)
  })

  test('bad options name what was wrong', async () => {
    let e = await rejection(client.fuse({ prompt: 'q', pool: [`${M}/a`], mode: 'blend' }))
    assert.ok(e instanceof InvalidRequestError)
    assert.match(e.message, /option `mode`/)
    e = await rejection(client.fuse({ prompt: 'q', pool: [`${M}/a`, `${M}/b`], mode: 'vote', temprature: 0.2 }))
    assert.match(e.message, /temprature/)
    e = await rejection(client.fuse({ pool: [`${M}/a`] }))
    assert.match(e.message, /pass `messages`/)
    e = await rejection(client.fuse('q'))
    assert.match(e.message, /expected an options object/)
  })
})
