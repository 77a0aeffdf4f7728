// `polyfuse/ai-sdk` through the package's exports map (a self-reference, as a consumer resolves
// it): `import` and `require` give the same objects, over the same native module as `polyfuse`.
// What the provider does, with the real `ai` package, is tested in tests/ai-sdk.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'

import { createPolyfuse, polyfuse, PolyfuseLanguageModel } from 'polyfuse/ai-sdk'
import { Client } from 'polyfuse'

const require = createRequire(import.meta.url)

test("import and require of 'polyfuse/ai-sdk' give the same provider, over polyfuse's Client", () => {
  const cjs = require('polyfuse/ai-sdk')
  assert.equal(cjs.polyfuse, polyfuse)
  assert.equal(cjs.createPolyfuse, createPolyfuse)
  const model = polyfuse('mock/echo')
  assert.ok(model instanceof PolyfuseLanguageModel)
  assert.equal(model.specificationVersion, 'v3')
  assert.ok(createPolyfuse({ client: new Client() }).client instanceof require('polyfuse').Client)
})
