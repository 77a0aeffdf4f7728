// The ESM entry (`import ... from 'polyfuse'`, resolved through package.json `exports`): a named
// export for every export of the CommonJS entry (the same objects, so they cannot drift), for
// everything index.d.ts declares, and typings that type-check from ESM and CommonJS consumers.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import * as esm from 'polyfuse'
import polyfuse, { Client, PolyfuseError, RateLimitError, ConfigError } from 'polyfuse'

import { staleFiles } from '../../scripts/entries.mjs'
import { ROOT, rejection } from './helpers.mjs'

const require = createRequire(import.meta.url)
const cjs = require('polyfuse')

describe('ESM entry', () => {
  test('resolves to index.mjs for import and index.js for require', () => {
    assert.equal(import.meta.resolve('polyfuse'), new URL('../../index.mjs', import.meta.url).href)
    assert.equal(require.resolve('polyfuse'), join(ROOT, 'index.js'))
  })

  test('its named exports are exactly the CommonJS module keys, as the same objects', () => {
    const named = Object.keys(esm).filter((k) => k !== 'default').sort()
    assert.deepEqual(named, Object.keys(cjs).sort())
    for (const key of named) assert.equal(esm[key], cjs[key], key)
    assert.equal(polyfuse, cjs)
  })

  test('every value index.d.ts declares is a named export', () => {
    const dts = readFileSync(join(ROOT, 'index.d.ts'), 'utf8')
    const declared = [...dts.matchAll(/^export declare (?:class|const|function) (\w+)/gm)].map((m) => m[1])
    assert.ok(declared.includes('PolyfuseError') && declared.includes('RateLimitError') && declared.includes('ChatStream'))
    for (const name of declared) assert.ok(name in esm, `index.d.ts declares ${name}, the ESM entry does not export it`)
    // And the other way round: nothing exported goes undeclared.
    for (const name of Object.keys(cjs)) assert.ok(declared.includes(name), `${name} is exported but not declared in index.d.ts`)
  })

  test('index.mjs, index.react-server.cjs and the error typings are what scripts/entries.mjs generates from the module', () => {
    assert.deepEqual(staleFiles(cjs), [], 'run `node scripts/entries.mjs`')
  })

  test('errors are instances of the ESM-imported classes', async () => {
    const client = new Client({
      config: { env_providers: false, policy: { max_attempts_per_target: 1 }, mock: { models: { limited: { fail: { kind: 'rate_limited' } } } } },
    })
    const e = await rejection(client.complete({ model: 'mock/limited', prompt: 'x' }))
    assert.ok(e instanceof RateLimitError)
    assert.ok(e instanceof PolyfuseError)
    assert.ok(e instanceof Error)
    assert.ok(e instanceof cjs.RateLimitError)
    assert.equal(e.kind, 'rate_limited')
    assert.throws(() => new Client({ config: { polcy: {} } }), ConfigError)
  })

  test('under the react-server condition (Next.js server bundles) polyfuse is the same module, ESM and CommonJS', () => {
    const script = `
      import * as esm from 'polyfuse'
      import { createRequire } from 'node:module'
      const require = createRequire(${JSON.stringify(join(ROOT, 'x.js'))})
      const cjs = require('polyfuse')
      const binding = require('polyfuse/binding')
      const e = await new esm.Client({ config: { env_providers: false, policy: { max_attempts_per_target: 1 }, mock: { models: { l: { fail: { kind: 'rate_limited' } } } } } })
        .complete({ model: 'mock/l', prompt: 'x' }).catch((err) => err)
      console.log(JSON.stringify({
        entry: require.resolve('polyfuse'),
        same: cjs === binding && Object.keys(binding).every((k) => esm[k] === binding[k]),
        named: Object.keys(esm).filter((k) => k !== 'default').sort(),
        instance: e instanceof esm.RateLimitError && e instanceof binding.PolyfuseError,
      }))`
    const out = execFileSync(process.execPath, ['--conditions=react-server', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })
    const r = JSON.parse(out)
    assert.equal(r.entry, join(ROOT, 'index.react-server.cjs'))
    assert.equal(r.same, true)
    assert.deepEqual(r.named, Object.keys(cjs).sort())
    assert.equal(r.instance, true)
    assert.equal(require('polyfuse/binding'), cjs)
  })

  test('the typings type-check under tsc --strict from an ESM (.mts) and a CommonJS (.cts) consumer', () => {
    const tsc = require.resolve('typescript/bin/tsc')
    try {
      execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tests/node/typings/tsconfig.json')], { encoding: 'utf8' })
    } catch (e) {
      assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`)
    }
  })
})
