// complete(): results, parameter mapping, the in-process mock provider, config errors, concurrency.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { mockConfig, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse

describe('complete', () => {
  let server
  let client
  before(async () => {
    server = await startMockServer()
    client = new Client({ config: mockConfig(server) })
  })
  after(() => server.stop())

  test('returns text, usage, model and the OpenAI shape', async () => {
    const r = await client.complete({
      model: 'mockhttp/gpt-4o-mini;text=Hello there;prompt_tokens=11;completion_tokens=7',
      messages: [{ role: 'user', content: 'Hi' }],
    })
    assert.equal(r.text, 'Hello there')
    assert.deepEqual(r.message, { role: 'assistant', content: 'Hello there' })
    assert.equal(r.finishReason, 'stop')
    assert.equal(r.usage.inputTokens, 11)
    assert.equal(r.usage.outputTokens, 7)
    assert.equal(r.usage.totalTokens, 18)
    assert.equal(r.provider, 'mockhttp')
    assert.equal(r.model, 'mockhttp/gpt-4o-mini;text=Hello there;prompt_tokens=11;completion_tokens=7')
    assert.match(r.id, /^pf-/)
    assert.ok(r.latencyMs > 0)
    assert.equal(r.attempts.length, 1)
    assert.equal(r.attempts[0].outcome, 'ok')
    assert.deepEqual(r.toolCalls, [])
    assert.equal(r.openai.object, 'chat.completion')
    assert.equal(r.openai.choices[0].message.content, 'Hello there')
    assert.equal(r.openai.usage.prompt_tokens, 11)
    assert.equal(r.openai.usage.completion_tokens, 7)
  })

  test('camelCase parameters reach the provider under their wire names', async () => {
    await server.reset()
    const key = `params-${Date.now()}`
    await client.complete({
      model: `mockhttp/gpt-4o-mini;key=${key}`,
      prompt: 'Hi',
      temperature: 0.25,
      maxTokens: 17,
      topP: 0.5,
      stop: ['END'],
      responseFormat: { type: 'json_object' },
      extra: { custom_field: { keep: 'As-Is' } },
      tags: { team: 'node' },
      includeRaw: true,
      timeoutMs: 10_000,
      temperatureUnused: undefined, // undefined counts as absent
    })
    const log = await server.requests()
    const entries = Array.isArray(log) ? log : log.requests
    const sent = entries.map((e) => e.body ?? e).find((b) => typeof b.model === 'string' && b.model.includes(key))
    assert.ok(sent, 'the mock server logged the request')
    assert.equal(sent.temperature, 0.25)
    assert.equal(sent.top_p, 0.5)
    assert.equal(sent.max_tokens ?? sent.max_completion_tokens, 17)
    assert.deepEqual(sent.stop, ['END'])
    assert.deepEqual(sent.response_format, { type: 'json_object' })
    assert.deepEqual(sent.custom_field, { keep: 'As-Is' })
    assert.equal(sent.tags, undefined, 'tags are never sent to the provider')
    assert.deepEqual(sent.messages, [{ role: 'user', content: 'Hi' }])
  })

  test('includeRaw keeps the provider body', async () => {
    const r = await client.complete({ model: 'mockhttp/gpt-4o-mini;text=raw', prompt: 'x', includeRaw: true })
    assert.equal(r.raw.object, 'chat.completion')
    assert.equal(r.raw.choices[0].message.content, 'raw')
  })

  test('unknown parameters are rejected by name', async () => {
    const e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini', prompt: 'x', temprature: 1 }))
    assert.ok(e instanceof PolyfuseError)
    assert.equal(e.kind, 'invalid_request')
    assert.match(e.message, /temprature/)
  })

  test('bad arguments reject with invalid_request', async () => {
    let e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini' }))
    assert.equal(e.kind, 'invalid_request')
    assert.match(e.message, /messages/)
    e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini', prompt: 'a', messages: [] }))
    assert.equal(e.kind, 'invalid_request')
    e = await rejection(client.complete({ model: 'mockhttp/gpt-4o-mini', messages: [{ role: 'robot', content: 'x' }] }))
    assert.equal(e.kind, 'invalid_request')
    assert.match(e.message, /robot/)
    e = await rejection(client.complete({ model: 42, prompt: 'x' }))
    assert.equal(e.kind, 'invalid_request')
    e = await rejection(client.complete())
    assert.equal(e.kind, 'invalid_request')
  })

  test('1,000 concurrent calls all succeed', async () => {
    const calls = Array.from({ length: 1000 }, (_, i) =>
      client.complete({ model: `mockhttp/gpt-4o-mini;text=answer ${i}`, prompt: `q${i}` }),
    )
    const results = await Promise.all(calls)
    results.forEach((r, i) => assert.equal(r.text, `answer ${i}`))
  })
})

describe('the in-process mock provider', () => {
  test('mock/echo answers without a server', async () => {
    const client = new Client()
    assert.ok(client.providers.includes('mock'))
    const r = await client.complete({ model: 'mock/echo', prompt: 'Hello, polyfuse!' })
    assert.equal(r.text, 'Hello, polyfuse!')
    assert.equal(r.provider, 'mock')
    assert.ok(r.usage.outputTokens > 0)
  })

  test('scripted mock models come from the config', async () => {
    const client = new Client({ config: { mock: { models: { fixed: { text: 'fixed answer', output_tokens: 3 } } } } })
    const r = await client.complete({ model: 'mock/fixed', prompt: 'anything' })
    assert.equal(r.text, 'fixed answer')
    assert.equal(r.usage.outputTokens, 3)
  })
})

describe('config', () => {
  test('a bad document throws a config error naming the key path', () => {
    assert.throws(
      () => new Client({ config: { providers: { local: { format: 'openai', base_urll: 'http://x' } } } }),
      (e) => e instanceof PolyfuseError && e.kind === 'config' && /providers\.local\.base_urll/.test(e.message),
    )
    assert.throws(
      () => new Client({ config: { policy: { total_timeout_ms: 'soon' } } }),
      (e) => e.kind === 'config' && /policy\.total_timeout_ms/.test(e.message),
    )
  })

  test('a missing config file is a config error', () => {
    assert.throws(() => new Client({ config: '/nonexistent/polyfuse.toml' }), (e) => e.kind === 'config')
  })

  test('an unknown provider is a config error', async () => {
    const e = await rejection(new Client().complete({ model: 'nowhere/model', prompt: 'x' }))
    assert.equal(e.kind, 'config')
    assert.match(e.message, /nowhere/)
  })

  test('onUsage must be a function', () => {
    assert.throws(() => new Client({ onUsage: 42 }), (e) => e.kind === 'config' && /onUsage/.test(e.message))
  })
})
