// Shared by the Node tests: loads the package from the repo root, starts the mock provider server
// (tests/mock-server) once per test file, and builds configs that point at it.
import { spawn, execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(import.meta.url)
/** The package under test (root index.js + the built .node). */
export const polyfuse = require(ROOT)

/** An API key of the shape the mock answers with a 401 echoing it in full. */
export const BAD_KEY = 'bad-key-secret-123456'

function mockServerBinary() {
  if (process.env.POLYFUSE_MOCK_SERVER) return process.env.POLYFUSE_MOCK_SERVER
  const target = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'polyfuse', 'target')
  const bin = join(target, 'debug', 'polyfuse-mock-server')
  if (!existsSync(bin)) {
    execFileSync('cargo', ['build', '-q', '-p', 'polyfuse-mock-server'], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, CARGO_TARGET_DIR: target },
    })
  }
  return bin
}

/**
 * Starts the mock server; resolves to `{ url, baseUrl, stats(), requests(), reset(), stop() }`.
 * It exits when its stdin closes, so a crashed test run never leaks it.
 */
export async function startMockServer() {
  const child = spawn(mockServerBinary(), [], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('mock server did not print LISTENING within 30 s')), 30_000)
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`mock server exited early (code ${code})`)))
    lines.once('line', (line) => {
      clearTimeout(timer)
      const m = /^LISTENING (\S+)/.exec(line)
      m ? resolveUrl(m[1]) : reject(new Error(`unexpected first line from the mock server: ${line}`))
    })
  })
  child.removeAllListeners('exit')
  const get = async (path, init) => (await fetch(url + path, init)).json()
  return {
    url,
    baseUrl: `${url}/v1`,
    stats: () => get('/_mock/stats'),
    requests: () => get('/_mock/requests'),
    reset: () => fetch(url + '/_mock/reset', { method: 'POST' }).then((r) => r.arrayBuffer()),
    stop: () =>
      new Promise((done) => {
        lines.close()
        child.once('exit', () => done())
        child.stdin.end()
        child.stdout.destroy()
      }),
  }
}

/** The config document of a client talking to the mock server as provider `mockhttp`. */
export function mockConfig(server, { apiKey = 'sk-test-123', policy } = {}) {
  return {
    env_providers: false,
    providers: {
      mockhttp: { format: 'openai', base_url: server.baseUrl, api_key: apiKey },
      badkey: { format: 'openai', base_url: server.baseUrl, api_key: BAD_KEY },
    },
    // One attempt per call: these tests look at what one provider answer turns into.
    policy: { max_attempts_per_target: 1, ...policy },
  }
}

/**
 * Waits (up to 5 s) until the mock server has seen a client disconnect more than `before` (its
 * `client_disconnects` earlier) and has nothing in flight; returns its stats then, or null.
 */
export function disconnectedSince(server, before) {
  return eventually(async () => {
    const s = await server.stats()
    return s.client_disconnects > before && s.in_flight === 0 ? s : null
  })
}

/** Polls `check()` (async, truthy when done) every 20 ms for at most `ms`; returns its last value. */
export async function eventually(check, ms = 5000) {
  const until = Date.now() + ms
  let last
  while (Date.now() < until) {
    last = await check()
    if (last) return last
    await new Promise((r) => setTimeout(r, 20))
  }
  return last
}

/** Runs `promise` and returns the error it rejects with (fails if it resolves). */
export async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection, the call succeeded')
}

/** Collects a stream's events. */
export async function collect(stream) {
  const events = []
  for await (const ev of stream) events.push(ev)
  return events
}
