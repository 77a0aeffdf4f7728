// Caller values JSON cannot carry, or that would exhaust the native stack: an object or array
// nested 20,000 deep (in `tags`, `extra`, `messages`, the config document, a ledger filter), a
// cyclic object, NaN and ±Infinity. Each is a PolyfuseError naming the argument and the key path,
// and the process lives on. The cases run in a child process, so a crash (a segfault is exit 139
// / SIGSEGV) fails the test instead of killing the test runner.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'

import { ROOT } from './helpers.mjs'

const CHILD = `
const polyfuse = require(${JSON.stringify(ROOT)})
const { Client, PolyfuseError } = polyfuse
const nested = (depth, leaf = 1) => { let o = leaf; for (let i = 0; i < depth; i++) o = { d: o }; return o }
const nestedArray = (depth) => { let o = []; for (let i = 0; i < depth; i++) o = [o]; return o }
const cyclic = () => { const o = { a: { b: {} } }; o.a.b.back = o; return o }
const client = new Client({ config: { env_providers: false } })
const call = (extra) => client.complete({ model: 'mock/echo', prompt: 'hi', ...extra })
const cases = {
  tags: () => call({ tags: nested(20000) }),
  extra: () => call({ extra: { deep: nestedArray(20000) } }),
  messages: () => call({ prompt: undefined, messages: [{ role: 'user', content: nested(20000) }] }),
  metadata: () => call({ metadata: nested(20000) }),
  streamTags: async () => { for await (const _ of client.stream({ model: 'mock/echo', prompt: 'hi', tags: nested(20000) })); },
  config: () => new Client({ config: { env_providers: false, mock: nested(20000) } }),
  configUnknownOption: () => new Client({ notAnOption: nested(20000) }),
  ledgerFilter: () => polyfuse.queryLedger('usage.db', { tags: nested(20000) }),
  cyclicTags: () => call({ tags: cyclic() }),
  cyclicMessages: () => { const m = { role: 'user', content: 'hi' }; m.self = [m]; return call({ prompt: undefined, messages: [m] }) },
  cyclicConfig: () => { const c = { env_providers: false, providers: {} }; c.providers.loop = c; return new Client({ config: c }) },
  nanTemperature: () => call({ temperature: NaN }),
  infinityTag: () => call({ tags: { budget: Infinity } }),
  negInfinityExtra: () => call({ extra: { penalties: [0, -Infinity] } }),
  function: () => call({ tags: { f: () => 1 } }),
  // Within the bound, and a DAG (the same object twice, not a cycle): both convert.
  fine: async () => { const shared = { x: 1 }; const r = await call({ tags: { deep: nested(150), a: shared, b: shared } }); return r.text },
}
;(async () => {
  const out = {}
  for (const [name, run] of Object.entries(cases)) {
    try {
      out[name] = { ok: await run() }
    } catch (e) {
      out[name] = { error: e instanceof PolyfuseError, kind: e.kind, name: e.name, message: String(e.message).slice(0, 400) }
    }
  }
  // Still alive: a plain call answers.
  out.after = (await call({})).text
  process.stdout.write(JSON.stringify(out))
})()
`

test('deep, cyclic and non-finite caller values are PolyfuseErrors naming the argument and path; the process survives', () => {
  const r = spawnSync(process.execPath, ['-e', CHILD], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 })
  assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr}`)
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`)
  const out = JSON.parse(r.stdout)
  const expect = {
    tags: ['invalid_request', /^option `tags` at `d\.d[.d…]+`: nested too deeply \(more than 200 levels/],
    extra: ['invalid_request', /^option `extra` at `deep\[0\][[\]0…]+`: nested too deeply/],
    messages: ['invalid_request', /^option `messages` at `\[0\]\.content\.d[.d…]+`: nested too deeply/],
    metadata: ['invalid_request', /^option `metadata` at `d\.d[.d…]+`: nested too deeply/],
    streamTags: ['invalid_request', /^option `tags` at `d\.d[.d…]+`: nested too deeply/],
    config: ['config', /^config at `mock\.d[.d…]+`: nested too deeply/],
    configUnknownOption: ['config', /unknown option `notAnOption`/],
    ledgerFilter: ['invalid_request', /^argument `filter` at `tags\.d[.d…]+`: nested too deeply/],
    cyclicTags: ['invalid_request', /^option `tags` at `a\.b\.back`: a cyclic reference/],
    cyclicMessages: ['invalid_request', /^option `messages` at `\[0\]\.self\[0\]`: a cyclic reference/],
    cyclicConfig: ['config', /^config at `providers\.loop`: a cyclic reference/],
    nanTemperature: ['invalid_request', /^option `temperature`: NaN is not a finite number/],
    infinityTag: ['invalid_request', /^option `tags` at `budget`: Infinity is not a finite number/],
    negInfinityExtra: ['invalid_request', /^option `extra` at `penalties\[1\]`: -Infinity is not a finite number/],
    function: ['invalid_request', /^option `tags` at `f`: a function is not JSON data/],
  }
  for (const [name, [kind, message]] of Object.entries(expect)) {
    const got = out[name]
    assert.ok(got.error, `${name}: expected a PolyfuseError, got ${JSON.stringify(got)}`)
    assert.equal(got.kind, kind, `${name}: ${got.message}`)
    assert.match(got.message, message, name)
  }
  assert.match(out.fine.ok, /hi/)
  assert.match(out.after, /hi/)
})
