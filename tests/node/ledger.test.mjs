// The usage ledger from Node, against the mock server: `queryLedger` returns the events the
// `onUsage` callback got and filters them by time range, model, route, level, tags and limit;
// `client.ledgerStats()` counts them; `npx polyfuse report` writes the HTML report (and names a
// bad argument); a child process killed with SIGKILL in the middle of a run loses no event of a
// call that had completed.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, test } from 'node:test'

import { ROOT, collect, mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError, InvalidRequestError, queryLedger, writeReport } = polyfuse
const MODEL = 'mockhttp/gpt-4o-mini'

let server
let dir
before(async () => {
  server = await startMockServer()
  dir = mkdtempSync(join(tmpdir(), 'polyfuse-ledger-'))
})
after(async () => {
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
})

function ledgerConfig(db) {
  return {
    ...mockConfig(server, { policy: { max_attempts_per_target: 2, backoff_initial_ms: 1, backoff_max_ms: 2, breaker: { enabled: false } } }),
    routes: { chat: { targets: [`mockhttp/primary;status=500`, 'mockhttp/backup;words=3'] } },
    usage: { ledger: db },
  }
}

/** Runs `file` with `args` in the package root (npm offline: `npx polyfuse` is the package's own
 * bin, never a download), for at most 120 s; resolves to `{ code, stdout, stderr }`. */
function run(file, args) {
  return new Promise((resolve) => {
    const env = { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' }
    execFile(file, args, { cwd: ROOT, env, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }),
    )
  })
}

test('queryLedger returns the callback events and filters by time, model, route, level, tags, limit', async () => {
  const db = join(dir, 'query.db')
  const seen = []
  const client = new Client({ config: ledgerConfig(db), onUsage: (e) => seen.push(e) })
  const since = Date.now()
  const r1 = await client.complete({ model: `${MODEL};words=2`, prompt: 'a', tags: { team: 'search', n: 1 } })
  // Its events are in the ledger as soon as the call has returned.
  assert.deepEqual((await queryLedger(db, { level: 'call' })).map((e) => e.requestId), [r1.id])
  const r2 = await client.complete({ model: 'chat', prompt: 'b', tags: { team: 'ads', n: 2 } })
  const streamed = await collect(client.stream({ model: `${MODEL};words=4`, prompt: 'c', tags: { team: 'search', n: 3 } }))
  const r3 = streamed.at(-1).response
  await rejection(client.complete({ model: `${MODEL};status=400`, prompt: 'd' }))
  await client.flushUsage()

  const events = await queryLedger(db)
  assert.equal(events.length, seen.length)
  assert.deepEqual(events, seen, 'the ledger holds the events onUsage got, field for field, in order')
  const calls = await queryLedger(db, { level: 'call' })
  assert.deepEqual(calls.map((e) => e.requestId).slice(0, 3), [r1.id, r2.id, r3.id])
  assert.equal(calls.length, 4)
  assert.deepEqual(calls.map((c) => c.outcome), ['ok', 'ok', 'ok', 'error'])

  const search = await queryLedger(db, { level: 'call', tags: { team: 'search' } })
  assert.deepEqual(search.map((c) => c.requestId), [r1.id, r3.id])
  assert.deepEqual((await queryLedger(db, { level: 'call', tags: { n: 2 } })).map((c) => c.requestId), [r2.id])
  assert.deepEqual(await queryLedger(db, { tags: { n: '2' } }), [], "JSON equality: '2' is not 2")

  const byModel = await queryLedger(db, { model: `${MODEL};words=4` })
  assert.ok(byModel.length >= 2 && byModel.every((e) => e.model === `${MODEL};words=4`))
  const routed = await queryLedger(db, { route: 'chat', level: 'attempt' })
  assert.ok(routed.length >= 2, 'the route made attempts on its primary and its backup')
  assert.ok(routed.every((e) => e.route === 'chat' && e.level === 'attempt' && e.parentId === r2.id))

  // untilMs is exclusive. Calls can start within the same millisecond (a stream read ahead ends
  // as soon as its last byte is in), so what falls in the window is read off the calls' times.
  const until = calls[2].startedAtMs + 1
  const window = await queryLedger(db, { level: 'call', sinceMs: since, untilMs: until })
  assert.deepEqual(window.map((c) => c.requestId).slice(0, 3), [r1.id, r2.id, r3.id])
  assert.deepEqual(window.map((c) => c.requestId), calls.filter((c) => c.startedAtMs < until).map((c) => c.requestId))
  assert.deepEqual(await queryLedger(db, { level: 'call', sinceMs: calls[3].startedAtMs + 1 }), [])
  assert.deepEqual(await queryLedger(db, { limit: 2 }), events.slice(0, 2))

  const stats = client.ledgerStats()
  assert.equal(stats.written, events.length)
  assert.deepEqual({ failed: stats.failed, dropped: stats.dropped, pending: stats.pending }, { failed: 0, dropped: 0, pending: 0 })
  assert.deepEqual(new Client({ config: mockConfig(server) }).ledgerStats(), { written: 0, failed: 0, dropped: 0, pending: 0 })

  // Bad arguments name what was wrong.
  let e = await rejection(queryLedger(db, { level: 'everything' }))
  assert.ok(e instanceof InvalidRequestError, String(e))
  assert.match(e.message, /`level`/)
  e = await rejection(queryLedger(db, { since_ms: 1 }))
  assert.ok(e instanceof InvalidRequestError)
  assert.match(e.message, /unknown key `since_ms`.*`sinceMs`/)
  e = await rejection(queryLedger(db, { sinceMs: 'yesterday' }))
  assert.match(e.message, /`sinceMs`/)
  e = await rejection(queryLedger(db, 'call'))
  assert.match(e.message, /argument `filter`: expected an object/)
  e = await rejection(queryLedger(42))
  assert.match(e.message, /argument `path`: expected a file path/)
  e = await rejection(queryLedger(join(dir, 'missing.db')))
  assert.ok(e instanceof PolyfuseError)
  assert.match(e.message, /missing\.db/)
  await client.close()
})

test('writeReport and `npx polyfuse report` write the HTML report of a ledger', async () => {
  const db = join(dir, 'report.db')
  const client = new Client({ config: ledgerConfig(db) })
  for (let i = 0; i < 6; i++) {
    await client.complete({ model: i % 2 ? 'chat' : `${MODEL};words=3`, prompt: 'x', tags: { team: i % 3 ? 'ads' : 'search' } })
  }
  await rejection(client.complete({ model: `${MODEL};status=429`, prompt: 'x' }))
  await client.close()

  const direct = join(dir, 'direct.html')
  const summary = await writeReport(db, direct, { tags: { team: 'search' } })
  assert.deepEqual({ path: summary.path, calls: summary.calls }, { path: direct, calls: 2 })
  assert.ok(summary.charts > 0 && summary.attempts >= 2)

  const out = join(dir, 'report.html')
  const npx = await run('npx', ['--no-install', 'polyfuse', 'report', db, '-o', out])
  assert.equal(npx.code, 0, npx.stderr)
  assert.match(npx.stdout, /^polyfuse: wrote .*report\.html \(7 calls, \d+ attempts, \d+ charts\)/)
  const html = readFileSync(out, 'utf8')
  assert.match(html, /^<!DOCTYPE html>/i)
  assert.match(html, /<svg/)
  assert.match(html, /gpt-4o-mini/)
  assert.doesNotMatch(html, /<script[^>]+src=|https?:\/\/(?!www\.w3\.org)/, 'self-contained: nothing loaded from the network')

  // The flags filter as the Python command's do.
  const bin = join(ROOT, 'bin', 'polyfuse.js')
  const filtered = await run(process.execPath, [bin, 'report', db, '--output', join(dir, 'f.html'), '--tag', 'team=ads', '--model', 'chat'])
  assert.equal(filtered.code, 0, filtered.stderr)
  assert.match(filtered.stdout, /\(2 calls,/)
  const later = await run(process.execPath, [bin, 'report', db, '-o', join(dir, 'none.html'), '--since-ms', String(Date.now() + 60_000)])
  assert.match(later.stdout, /\(0 calls,/)

  // Errors name the argument and exit 2.
  for (const [args, message] of [
    [['report'], /LEDGER argument .* is missing/],
    [['report', db, '--tag', 'team'], /--tag expects KEY=VALUE, got "team"/],
    [['report', db, '--since-ms', 'soon'], /--since-ms expects an integer/],
    [['report', db, '--colour', 'red'], /--colour/],
    [['report', join(dir, 'missing.db'), '-o', join(dir, 'm.html')], /missing\.db/],
    [['reprot', db], /unknown command "reprot"/],
  ]) {
    const r = await run(process.execPath, [bin, ...args])
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
    assert.match(r.stderr, message)
  }
  assert.ok(!existsSync(join(dir, 'm.html')))
})

// A child making calls from 8 concurrent workers with the ledger on until it is killed; it prints
// each completed call's id and number of attempts as soon as the call has settled.
const CHILD = `
const { Client, InvalidRequestError } = require(${JSON.stringify(ROOT)})
const MODEL = ${JSON.stringify(MODEL)}
// Large events make each commit take a while: a call settling before its commit would be caught
// by the kill more often.
const metadata = { blob: 'x'.repeat(20000) }
const client = new Client({ config: JSON.parse(process.argv[1]) })
async function worker(w) {
  for (let i = 1; ; i++) {
    let r
    switch ((w + i) % 4) {
      case 0: // the first try fails (503), the retry answers
        r = await client.complete({ model: MODEL + ';status=503;fail_times=1;key=k' + w + '-' + i, prompt: 'hi', tags: { w }, metadata })
        break
      case 1: // a route whose primary fails: its backup answers
        r = await client.complete({ model: 'chat', prompt: 'hi', metadata })
        break
      case 2: // a stream
        for await (const ev of client.stream({ model: MODEL + ';words=5', prompt: 'hi', metadata })) {
          if (ev.type === 'final') r = ev.response
        }
        break
      default: // a failed call (no response to print)
        try {
          await client.complete({ model: MODEL + ';status=400', prompt: 'hi' })
        } catch (e) {
          if (!(e instanceof InvalidRequestError)) throw e
        }
        continue
    }
    process.stdout.write(r.id + ' ' + r.attempts.length + '\\n')
  }
}
for (let w = 0; w < 8; w++) worker(w).catch((e) => { console.error(e); process.exit(3) })
`

/** Runs the child on `db` until it has printed `calls` lines, kills it with SIGKILL, and returns
 * every complete line it printed as `[id, attempts]`. */
async function runAndKill(db, calls) {
  const child = spawn(process.execPath, ['-e', CHILD, JSON.stringify(ledgerConfig(db))], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const printed = []
  const lines = createInterface({ input: child.stdout })
  const enough = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child printed ${printed.length} of ${calls} calls within 60 s: ${stderr}`)), 60_000)
    lines.on('line', (line) => {
      const [id, n] = line.split(' ')
      printed.push([id, Number(n)])
      if (printed.length === calls) {
        clearTimeout(timer)
        resolve()
      }
    })
    exited.then(({ code }) => {
      clearTimeout(timer)
      reject(new Error(`the child ended early (code ${code}): ${stderr}`))
    })
  })
  try {
    await enough
  } finally {
    child.kill('SIGKILL')
  }
  // readline emits only complete lines; the ones still in the pipe arrive before 'close'.
  const closed = new Promise((resolve) => lines.once('close', resolve))
  const { signal } = await exited
  await closed
  assert.equal(signal, 'SIGKILL')
  return printed
}

test('a process killed with SIGKILL loses no event of a call that had completed', async () => {
  const db = join(dir, 'killed.db')
  const printed = []
  // Two processes in turn on the same file: the second opens the ledger its killed predecessor
  // left (SQLite recovers the WAL) and goes on writing.
  for (let round = 0; round < 2; round++) {
    printed.push(...(await runAndKill(db, 150)))
    const events = await queryLedger(db)
    const byId = new Map(events.map((e) => [e.requestId, e]))
    assert.equal(byId.size, events.length, 'no event written twice')
    const missing = printed.filter(([id]) => !byId.has(id))
    assert.deepEqual(missing, [], `${missing.length} of ${printed.length} completed calls are not in the ledger`)
    let multi = 0
    for (const [id, n] of printed) {
      const call = byId.get(id)
      assert.deepEqual([call.level, call.outcome, call.attempts.length], ['call', 'ok', n])
      for (let k = 1; k <= n; k++) {
        const attempt = byId.get(`${id}.${k}`)
        assert.ok(attempt, `attempt ${k} of ${id} is missing`)
        assert.deepEqual([attempt.level, attempt.parentId, attempt.attempt], ['attempt', id, k])
      }
      if (n > 1) multi++
    }
    assert.ok(multi > printed.length / 3, 'retries and fallbacks were exercised')
  }
})

test('at exit (process.exit() included) the ledger writes the events of calls that had not completed', async () => {
  // Abandoned streams: their (cancelled) events are queued when `break` drops them; nothing waits
  // for their commit before `process.exit()`. The chunks come 1 s apart, so no stream has been read
  // to its end (ahead of next()) when `break` drops it.
  const db = join(dir, 'exit.db')
  const child = `
    const { Client } = require(${JSON.stringify(ROOT)})
    const config = { env_providers: false, usage: { ledger: process.argv[1] }, mock: { models: { slow: { chunk_delay_ms: 1000 } } } }
    const client = new Client({ config })
    ;(async () => {
      for (let i = 0; i < 20; i++) {
        const s = client.stream({ model: 'mock/slow', prompt: 'hi', metadata: { blob: 'x'.repeat(50000) } })
        for await (const ev of s) if (ev.type === 'text_delta') break
      }
      process.exit(0)
    })()
  `
  const r = await run(process.execPath, ['-e', child, db])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '', 'nothing was left unwritten')
  const calls = await queryLedger(db, { level: 'call' })
  assert.deepEqual(calls.map((c) => c.outcome), Array(20).fill('cancelled'))
})
