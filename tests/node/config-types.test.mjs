// The config document's typings (config.d.ts) cannot drift from the core: every closed object's
// keys are exactly the fields the core's config accepts at that path (the core names them when it
// rejects an unknown key), every string union is exactly the core's variants, and the Python
// TypedDicts (generated from config.d.ts by scripts/config-types.mjs) are up to date.
// tsc --strict on good and bad documents: tests/node/typings/config-consumer.mts (esm.test.mjs).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { ROOT, polyfuse } from './helpers.mjs'
import { readDeclarations } from '../../scripts/config-types.mjs'

const { Client } = polyfuse
const ZZ = 'zz_not_a_key'

/** Where each interface sits in a document: a document with `extra` merged into that object. */
const AT = {
  ConfigDocument: (x) => x,
  ProviderConfig: (x) => ({ providers: { p: { format: 'openai', ...x } } }),
  PolicyConfig: (x) => ({ policy: x }),
  BreakerConfig: (x) => ({ policy: { breaker: x } }),
  LimitsConfig: (x) => ({ policy: { limits: x } }),
  RouteConfig: (x) => ({ routes: { r: { targets: ['mock/echo'], ...x } } }),
  HedgeConfig: (x) => ({ routes: { r: { targets: ['mock/echo'], hedge: x } } }),
  MockConfig: (x) => ({ mock: x }),
  MockModelConfig: (x) => ({ mock: { models: { m: x } } }),
  MockFailureConfig: (x) => ({ mock: { models: { m: { fail: { kind: 'timeout', ...x } } } } }),
  MockToolCallConfig: (x) => ({ mock: { models: { m: { tool_calls: [{ name: 'f', ...x }] } } } }),
  UsageConfig: (x) => ({ usage: x }),
  PricingConfig: (x) => ({ pricing: x }),
  BudgetConfig: (x) => ({ budgets: [{ window: '1h', scope: 'client', ...x }] }),
  FusionConfig: (x) => ({ fusions: { f: { pool: ['mock/echo'], ...x } } }),
}
/** Objects the core reads without naming its fields (an untagged enum, flattened prices): each
 * declared key must be accepted, and an unknown one rejected. */
const ACCEPTED = {
  PricesConfig: (x) => ({ pricing: { models: { 'mock/echo': x } } }),
  TargetDetails: (x) => ({ routes: { r: { targets: [{ model: 'mock/echo', ...x }] } } }),
  ModelPriceConfig: (x) => ({ pricing: { models: { 'mock/echo': x } } }),
  PriceTierConfig: (x) => ({ pricing: { models: { 'mock/echo': { tiers: [{ above: 1000, ...x }] } } } }),
}
/** Where each string union is read. */
const UNION_AT = {
  ConfigErrorKind: (v) => ({ policy: { retry_on: [v] } }),
  WireFormat: (v) => ({ providers: { p: { format: v } } }),
  MidstreamConfig: (v) => ({ policy: { midstream: v } }),
  StrategyConfig: (v) => ({ routes: { r: { targets: ['mock/echo'], strategy: v } } }),
}
const SAMPLE = { model: 'mock/echo', tiers: [], above: 1000 }

function rejected(config) {
  try {
    new Client({ config: { env_providers: false, ...config } })
  } catch (e) {
    return e.message
  }
  return null
}

/** The names the core lists after "expected" in a rejection: the snake_case ones (a fusion's
 * options also accept camelCase aliases, which the document's types do not declare). */
function expected(message) {
  const tail = message.slice(message.indexOf('expected'))
  return [...tail.matchAll(/`([^`]+)`/g)]
    .map((m) => m[1])
    .filter((k) => k === k.toLowerCase())
    .sort()
}

describe('config.d.ts matches the core', () => {
  const { interfaces, unions } = readDeclarations()

  test('every interface and union of config.d.ts is checked here', () => {
    assert.deepEqual(Object.keys(interfaces).sort(), [...Object.keys(AT), ...Object.keys(ACCEPTED)].sort())
    assert.deepEqual(Object.keys(unions).sort(), Object.keys(UNION_AT).sort())
  })

  for (const [name, at] of Object.entries(AT)) {
    test(`${name}: the keys are the core's fields`, () => {
      const message = rejected(at({ [ZZ]: 1 }))
      assert.ok(message && message.includes(`unknown field \`${ZZ}\``), String(message))
      assert.deepEqual(Object.keys(interfaces[name].keys).sort(), expected(message), `config.d.ts ${name}`)
    })
  }

  for (const [name, at] of Object.entries(ACCEPTED)) {
    test(`${name}: every key is accepted, an unknown one is not`, () => {
      for (const key of Object.keys(interfaces[name].keys)) {
        const message = rejected(at({ [key]: SAMPLE[key] ?? 1 }))
        assert.equal(message, null, `${name}.${key}: ${message}`)
      }
      // The core does not reject an unknown key in a target object (reported); the typings do.
      if (name !== 'TargetDetails') assert.ok(rejected(at({ [ZZ]: 1 })), `${name} takes an unknown key`)
    })
  }

  for (const [name, at] of Object.entries(UNION_AT)) {
    test(`${name}: the values are the core's variants`, () => {
      const message = rejected(at(ZZ))
      assert.ok(message && message.includes(`unknown variant \`${ZZ}\``), String(message))
      assert.deepEqual([...unions[name]].sort(), expected(message))
    })
  }

  test('the Python TypedDicts are generated from config.d.ts and up to date', () => {
    try {
      execFileSync(process.execPath, [join(ROOT, 'scripts/config-types.mjs'), '--check'], { encoding: 'utf8' })
    } catch (e) {
      assert.fail(`${e.stdout}${e.stderr}`)
    }
  })
})
