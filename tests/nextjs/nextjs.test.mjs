// polyfuse in a Next.js 16 App Router app built by Turbopack (and, more briefly, webpack), with
// no polyfuse-specific configuration: `next build`, `next start`, and real HTTP requests to a
// route handler that completes and one that streams (a ReadableStream response), both calling
// the mock provider server over real sockets. The app's packages are installed by scripts/test.sh (npm install in
// tests/nextjs, polyfuse copied from the repository with its already-built native module).
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { eventually, startMockServer } from '../node/helpers.mjs'

const APP = dirname(fileURLToPath(import.meta.url))
const NEXT = join(APP, 'node_modules', 'next', 'dist', 'bin', 'next')
const ENV = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' }

function run(args, env) {
  return new Promise((done, fail) => {
    execFile(process.execPath, [NEXT, ...args], { cwd: APP, env, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) fail(new Error(`next ${args.join(' ')} failed:\n${stdout}\n${stderr}`))
      else done(stdout + stderr)
    })
  })
}

function freePort() {
  return new Promise((done, fail) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => done(port))
    })
    srv.once('error', fail)
  })
}

/** Starts `next start` in its own process group; resolves once it says it is ready. */
async function startNext(port, env) {
  const child = spawn(process.execPath, [NEXT, 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: APP,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = []
  child.stderr.on('data', (d) => output.push(String(d)))
  await new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`next start did not get ready in 60 s:\n${output.join('')}`)), 60_000)
    child.once('exit', (code) => fail(new Error(`next start exited (${code}):\n${output.join('')}`)))
    createInterface({ input: child.stdout }).on('line', (line) => {
      output.push(`${line}\n`)
      if (/Ready in/.test(line)) {
        clearTimeout(timer)
        ready()
      }
    })
  })
  child.removeAllListeners('exit')
  return {
    output,
    stop: () =>
      new Promise((done) => {
        child.once('exit', () => done())
        process.kill(-child.pid, 'SIGTERM')
      }),
  }
}

/** Builds the app with `buildArgs`, starts it against a mock provider server; the returned
 * object's fields are set in the suite's `before`. */
function app(buildArgs) {
  const state = {}
  before(async () => {
    assert.ok(existsSync(NEXT), 'next is not installed in tests/nextjs: scripts/test.sh runs npm install there')
    state.mock = await startMockServer()
    state.buildLog = await run(['build', ...buildArgs], ENV)
    const port = await freePort()
    state.next = await startNext(port, { ...ENV, POLYFUSE_MOCK_URL: state.mock.url })
    state.base = `http://127.0.0.1:${port}`
  })
  after(async () => {
    await state.next?.stop()
    await state.mock?.stop()
  })
  state.post = (path, body, init = {}) =>
    fetch(state.base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init })
  return state
}

async function assertCompletes(post) {
  const r = await post('/api/complete', { model: 'mockhttp/gpt-4o-mini', prompt: 'hello from next' })
  assert.equal(r.status, 200)
  const body = await r.json()
  assert.equal(body.text, 'Mock answer from gpt-4o-mini: hello from next')
  assert.equal(body.model, 'mockhttp/gpt-4o-mini')
  assert.ok(body.usage.outputTokens > 0)
}

async function assertStreams(post) {
  const r = await post('/api/stream', { model: 'mockhttp/gpt-4o-mini;words=12;chunk_delay_ms=30', prompt: 'x' })
  assert.equal(r.status, 200)
  assert.match(r.headers.get('content-type'), /^text\/plain/)
  const decoder = new TextDecoder()
  const pieces = []
  for await (const chunk of r.body) pieces.push(decoder.decode(chunk, { stream: true }))
  assert.equal(pieces.join(''), Array.from({ length: 12 }, (_, i) => `w${i + 1}`).join(' '))
  assert.ok(pieces.length > 1, `the response came in one piece: ${JSON.stringify(pieces)}`)
}

describe('Next.js App Router, Turbopack (next build)', () => {
  const it = app([])

  test('next build bundles the routes with Turbopack and no polyfuse configuration', () => {
    assert.match(it.buildLog, /Next\.js 16\.\d+\.\d+ \(Turbopack\)/)
    assert.match(it.buildLog, /ƒ \/api\/complete/)
    assert.match(it.buildLog, /ƒ \/api\/stream/)
  })

  test('a route handler completes through polyfuse', () => assertCompletes(it.post))

  test('errors keep their class inside the bundle (instanceof PolyfuseError, RateLimitError)', async () => {
    const r = await it.post('/api/complete', { model: 'mockhttp/gpt-4o-mini;status=429', prompt: 'x' })
    assert.equal(r.status, 429)
    const body = await r.json()
    assert.equal(body.error, 'RateLimitError')
    assert.equal(body.kind, 'rate_limited')
  })

  test('a route handler streams: the text arrives in several pieces as the provider sends it', () => assertStreams(it.post))

  test('a client that leaves mid-stream cancels the polyfuse stream and its provider connection', async () => {
    await it.mock.reset()
    const controller = new AbortController()
    const r = await it.post('/api/stream', { model: 'mockhttp/gpt-4o-mini;words=200;chunk_delay_ms=100', prompt: 'x' }, { signal: controller.signal })
    const reader = r.body.getReader()
    const first = await reader.read()
    assert.ok(!first.done && first.value.length > 0)
    controller.abort()
    const stats = await eventually(async () => {
      const s = await it.mock.stats()
      return s.client_disconnects >= 1 && s.in_flight === 0 ? s : null
    }, 10_000)
    assert.ok(stats, `the provider connection stayed open: ${JSON.stringify(await it.mock.stats())}`)
    assert.equal(stats.completed, 0)
  })
})

describe('Next.js App Router, webpack (next build --webpack)', () => {
  const it = app(['--webpack'])

  test('next build bundles the routes with webpack and no polyfuse configuration', () => {
    assert.match(it.buildLog, /Next\.js 16\.\d+\.\d+ \(webpack\)/)
  })

  test('a route handler completes through polyfuse', () => assertCompletes(it.post))

  test('a route handler streams', () => assertStreams(it.post))
})
