// The usual mistakes with `new Client(...)` and `complete(...)` / `stream(...)` fail at once with
// a PolyfuseError whose message names the mistake and says what to write instead.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'

import { collect, polyfuse, rejection } from './helpers.mjs'

const { Client, ConfigError, InvalidRequestError } = polyfuse

/** The error `make()` throws (fails when it does not throw). */
function thrown(make) {
  try {
    make()
  } catch (e) {
    return e
  }
  assert.fail('expected new Client(...) to throw')
}

function assertMistake(e, cls, ...patterns) {
  assert.ok(e instanceof cls, `${e?.name}: ${e?.message}`)
  for (const p of patterns) assert.match(e.message, p)
}

describe('new Client(options)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polyfuse-options-'))
  const toml = join(dir, 'polyfuse.toml')
  writeFileSync(toml, '[mock.models.toml_model]\ntext = "from the TOML file"\n')
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('a config document passed as the options → ConfigError saying to wrap it in { config }', () => {
    const doc = { env_providers: false, routes: { chat: { targets: ['mock/echo'] } } }
    const e = thrown(() => new Client(doc))
    assertMistake(e, ConfigError, /looks like a config document/, /new Client\(\{ config: document \}\)/, /`env_providers`, `routes`/)
    // What the message says to write works.
    assert.deepEqual(new Client({ config: doc }).providers.includes('mock'), true)
  })

  test('a document with a typo in it still gets the { config } hint', () => {
    const e = thrown(() => new Client({ providers: {}, polcy: {} }))
    assertMistake(e, ConfigError, /unknown options `providers`, `polcy`/, /a config document goes in `config`/)
  })

  test('a path passed as the options → ConfigError saying to write { config: path }', async () => {
    const e = thrown(() => new Client(toml))
    assertMistake(e, ConfigError, /a config file goes in the `config` option/)
    assert.ok(e.message.includes(`new Client({ config: ${JSON.stringify(toml)} })`), e.message)
    const r = await new Client({ config: toml }).complete({ model: 'mock/toml_model', prompt: 'x' })
    assert.equal(r.text, 'from the TOML file')
  })

  test('misspelled option names → ConfigError with the right name', () => {
    for (const key of ['onusage', 'on_usage', 'OnUsage', 'onUsge']) {
      assertMistake(thrown(() => new Client({ [key]: () => {} })), ConfigError, new RegExp(`unknown option \`${key}\`; did you mean \`onUsage\`\\?`))
    }
    assertMistake(thrown(() => new Client({ confg: {} })), ConfigError, /did you mean `config`\?/)
  })

  test('an unknown option → ConfigError listing the options', () => {
    assertMistake(thrown(() => new Client({ config: {}, retries: 3 })), ConfigError, /unknown option `retries`/, /`config` \(/, /`onUsage` \(/)
  })

  test('a function or a non-object → ConfigError', () => {
    assertMistake(thrown(() => new Client(() => {})), ConfigError, /goes in the `onUsage` option/)
    assertMistake(thrown(() => new Client(5)), ConfigError, /expected an options object \{ config, onUsage \}, got a number/)
    assertMistake(thrown(() => new Client([])), ConfigError, /got an array/)
  })

  test('undefined, null and {} are the defaults', () => {
    for (const options of [undefined, null, {}]) assert.ok(new Client(options).providers.includes('mock'))
  })
})

describe('complete(options) / stream(options)', () => {
  const client = new Client({ config: { env_providers: false } })

  test("the Python habit complete('mock/echo', 'hi') → InvalidRequestError with the object to write", async () => {
    const e = await rejection(client.complete('mock/echo', 'hi'))
    assertMistake(e, InvalidRequestError, /takes one options object, not positional arguments/)
    assert.ok(e.message.includes('client.complete({ model: "mock/echo", prompt: "hi" })'), e.message)
    const m = await rejection(client.complete('mock/echo', [{ role: 'user', content: 'hi' }]))
    assert.ok(m.message.includes('client.complete({ model: "mock/echo", messages: [...] })'), m.message)
    const s = await rejection(collect(client.stream('mock/echo', 'hi')))
    assert.ok(s instanceof InvalidRequestError)
    assert.ok(s.message.includes('client.stream({ model: "mock/echo", prompt: "hi" })'), s.message)
    // What the message says to write works.
    assert.equal((await client.complete({ model: 'mock/echo', prompt: 'hi' })).text, 'hi')
  })

  test('a second argument after the options object → InvalidRequestError', async () => {
    const e = await rejection(client.complete({ model: 'mock/echo', prompt: 'x' }, { temperature: 0 }))
    assertMistake(e, InvalidRequestError, /takes one options object and nothing after it/)
  })

  test('misspelled option names → InvalidRequestError with the right name', async () => {
    const cases = [
      [{ model: 'mock/echo', message: [{ role: 'user', content: 'x' }] }, 'message', 'messages'],
      [{ model: 'mock/echo', promt: 'x' }, 'promt', 'prompt'],
      [{ Model: 'mock/echo', prompt: 'x' }, 'Model', 'model'],
      [{ model: 'mock/echo', prompt: 'x', siganl: new AbortController().signal }, 'siganl', 'signal'],
    ]
    for (const [options, wrong, right] of cases) {
      const e = await rejection(client.complete(options))
      assertMistake(e, InvalidRequestError, new RegExp(`unknown option \`${wrong}\`; did you mean \`${right}\`\\?`))
    }
  })

  test('a missing model or input → InvalidRequestError naming what is missing', async () => {
    assertMistake(await rejection(client.complete({ prompt: 'x' })), InvalidRequestError, /option `model` is missing/)
    assertMistake(await rejection(client.complete({ model: 'mock/echo' })), InvalidRequestError, /pass `messages` .* or `prompt`/)
    assertMistake(await rejection(client.complete()), InvalidRequestError, /expected an options object/)
    assertMistake(await rejection(client.complete(42)), InvalidRequestError, /got a number/)
  })

  test('request parameters are not taken for misspellings of the binding\'s own options', async () => {
    const r = await client.complete({
      model: 'mock/echo',
      prompt: 'fine',
      temperature: 0,
      topP: 1,
      maxTokens: 5,
      stop: ['\n'],
      seed: 1,
      user: 'u',
      tags: { t: 1 },
      extra: {},
      timeoutMs: 5000,
      includeRaw: false,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      toolChoice: 'auto',
      parallelToolCalls: false,
      reasoningEffort: 'low',
      responseFormat: { type: 'text' },
    })
    assert.equal(r.text, 'fine')
  })

  test('an unknown parameter is named by the core', async () => {
    assertMistake(await rejection(client.complete({ model: 'mock/echo', prompt: 'x', temprature: 1 })), InvalidRequestError, /`temprature`/, /`temperature`/)
  })
})
