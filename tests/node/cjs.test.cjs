// The CommonJS entry (`require('polyfuse')`): the same module as the package's main, the same
// objects as the ESM entry (a dynamic import from CommonJS takes the `import` condition), and
// errors that are instances of the required classes.
const assert = require('node:assert/strict')
const { join } = require('node:path')
const { describe, test } = require('node:test')

const polyfuse = require('polyfuse')
const { Client, PolyfuseError, RateLimitError, AuthenticationError } = require('polyfuse')

const ROOT = join(__dirname, '..', '..')

describe('CommonJS entry', () => {
  test('is the package main, index.js', () => {
    assert.equal(require.resolve('polyfuse'), join(ROOT, 'index.js'))
    assert.equal(polyfuse, require(ROOT))
  })

  test('import() from CommonJS gives the ESM entry, with the same objects', async () => {
    const esm = await import('polyfuse')
    assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), Object.keys(polyfuse).sort())
    for (const key of Object.keys(polyfuse)) assert.equal(esm[key], polyfuse[key], key)
    assert.equal(esm.default, polyfuse)
  })

  test('errors are instances of the required classes', async () => {
    const client = new Client({
      config: { env_providers: false, policy: { max_attempts_per_target: 1 }, mock: { models: { limited: { fail: { kind: 'rate_limited' } } } } },
    })
    const e = await client.complete({ model: 'mock/limited', prompt: 'x' }).then(
      () => assert.fail('expected a rejection'),
      (err) => err,
    )
    assert.ok(e instanceof RateLimitError)
    assert.ok(e instanceof PolyfuseError)
    assert.ok(e instanceof Error)
    assert.ok(!(e instanceof AuthenticationError))
    assert.equal(e.kind, 'rate_limited')
    assert.equal(e.name, 'RateLimitError')
  })
})
