// The OpenAI-shaped drop-in, `client.chat.completions.create(body, { signal, timeout })`: calls
// written as openai-node's documentation writes them (plain, streamed with `for await`, tools and a
// tool result round trip, streamed tool calls accumulated by index, `response_format` json_schema,
// `stream_options.include_usage`, errors, AbortSignal), run against the mock server over HTTP. The
// objects are compared field by field with the shapes openai-node's `ChatCompletion` and
// `ChatCompletionChunk` declare.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { disconnectedSince, eventually, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse
const MODEL = 'mockhttp/gpt-4o-mini'
const API_KEY = 'sk-test-dropin-123456'

function cfg(server, routes = {}) {
  return {
    env_providers: false,
    providers: { mockhttp: { format: 'openai', base_url: server.baseUrl, api_key: API_KEY } },
    policy: { max_attempts_per_target: 1, breaker: { enabled: false } },
    routes,
  }
}

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city'],
    },
  },
}

/** The keys openai-node's `ChatCompletion` and its parts have (required ones always present). */
function assertCompletionShape(c) {
  const declared = ['choices', 'created', 'id', 'model', 'object', 'service_tier', 'system_fingerprint', 'usage']
  const extra = Object.keys(c).filter((k) => !declared.includes(k))
  assert.deepEqual(extra, [], 'no keys openai-node does not declare')
  for (const k of ['id', 'object', 'created', 'model', 'choices']) assert.ok(k in c, `ChatCompletion.${k}`)
  assert.equal(c.object, 'chat.completion')
  assert.equal(typeof c.created, 'number')
  assert.ok(Number.isInteger(c.created) && c.created > 1.7e9, 'created is in seconds')
  for (const choice of c.choices) {
    assert.deepEqual(Object.keys(choice).sort(), ['finish_reason', 'index', 'logprobs', 'message'])
    assert.equal(choice.logprobs, null)
    assert.equal(choice.message.role, 'assistant')
    assert.ok('content' in choice.message && 'refusal' in choice.message)
  }
}

function assertChunkShape(c) {
  assert.equal(c.object, 'chat.completion.chunk')
  for (const k of ['id', 'object', 'created', 'model', 'choices']) assert.ok(k in c, `ChatCompletionChunk.${k}`)
  for (const choice of c.choices) {
    assert.equal(choice.index, 0)
    assert.ok('delta' in choice && 'finish_reason' in choice)
  }
}

describe('OpenAI drop-in: client.chat.completions.create', () => {
  let server
  let client
  before(async () => {
    server = await startMockServer()
    client = new Client({ config: cfg(server) })
  })
  after(() => server.stop())
  const lastBody = async () => (await server.requests()).at(-1).body

  test('a plain completion', async () => {
    const completion = await client.chat.completions.create({
      model: `${MODEL};text=Hello%20there`,
      messages: [
        { role: 'developer', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Hello!' },
      ],
      temperature: 0.2,
      max_completion_tokens: 50,
    })
    assertCompletionShape(completion)
    assert.equal(completion.choices[0].message.content, 'Hello there')
    assert.equal(completion.choices[0].finish_reason, 'stop')
    assert.equal(completion.choices[0].index, 0)
    assert.match(completion.id, /^chatcmpl-/)
    assert.equal(completion.model, 'gpt-4o-mini')
    // The mock counts words + 3 per message for the prompt, the answer's words for the completion.
    assert.equal(completion.usage.prompt_tokens, 5 + 1 + 3 + 3)
    assert.equal(completion.usage.completion_tokens, 2)
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + 2)
    assert.equal(completion.usage.prompt_tokens_details.cached_tokens, 0)
    assert.equal(completion.choices[0].message.tool_calls, undefined)
    const body = await lastBody()
    assert.equal(body.temperature, 0.2)
    assert.deepEqual(body.messages[0], { role: 'developer', content: 'You are a helpful assistant.' })
    // A plain JSON object, as the SDK's: it serializes and spreads.
    assert.deepEqual(JSON.parse(JSON.stringify(completion)), completion)
  })

  test('a stream with for await', async () => {
    const stream = await client.chat.completions.create({
      model: `${MODEL};words=6`,
      messages: [{ role: 'user', content: 'Say this is a test' }],
      stream: true,
    })
    assert.equal(typeof stream[Symbol.asyncIterator], 'function')
    const chunks = []
    let text = ''
    for await (const chunk of stream) {
      chunks.push(chunk)
      text += chunk.choices[0]?.delta?.content || ''
    }
    assert.equal(text, 'w1 w2 w3 w4 w5 w6')
    assert.equal(chunks[0].choices[0].delta.role, 'assistant')
    assert.deepEqual(
      chunks.map((c) => c.choices[0].finish_reason),
      [...Array(chunks.length - 1).fill(null), 'stop'],
    )
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1)
    assert.match(chunks[0].id, /^chatcmpl-/)
    for (const c of chunks) {
      assertChunkShape(c)
      assert.ok(c.usage == null)
    }
  })

  test('stream_options.include_usage adds a last chunk with no choices and the usage', async () => {
    const stream = await client.chat.completions.create({
      model: `${MODEL};words=3;cached_tokens=2;reasoning_tokens=1`,
      messages: [{ role: 'user', content: 'one two' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks = []
    for await (const c of stream) chunks.push(c)
    const last = chunks.at(-1)
    assert.deepEqual(last.choices, [])
    assert.equal(last.usage.prompt_tokens, 5)
    assert.equal(last.usage.completion_tokens, 4)
    assert.equal(last.usage.prompt_tokens_details.cached_tokens, 2)
    assert.equal(last.usage.completion_tokens_details.reasoning_tokens, 1)
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null))
    assert.equal(chunks.slice(0, -1).map((c) => c.choices[0].delta.content || '').join(''), 'w1 w2 w3')
  })

  test('tools, and the documented loop: push the message, then the tool result', async () => {
    const messages = [{ role: 'user', content: "What's the weather like in Paris today?" }]
    const completion = await client.chat.completions.create({
      model: `${MODEL};tools=1`,
      messages,
      tools: [WEATHER_TOOL],
      tool_choice: 'auto',
    })
    assertCompletionShape(completion)
    const message = completion.choices[0].message
    assert.equal(completion.choices[0].finish_reason, 'tool_calls')
    assert.equal(message.content, null)
    assert.equal(message.tool_calls.length, 1)
    const toolCall = message.tool_calls[0]
    assert.deepEqual(Object.keys(toolCall).sort(), ['function', 'id', 'type'])
    assert.equal(toolCall.type, 'function')
    assert.equal(toolCall.function.name, 'get_weather')
    assert.deepEqual(JSON.parse(toolCall.function.arguments), { city: 'Paris', unit: 'celsius' })
    messages.push(message)
    messages.push({ role: 'tool', tool_call_id: toolCall.id, content: JSON.stringify({ temperature: 21 }) })
    const final = await client.chat.completions.create({
      model: `${MODEL};text=It%20is%2021%20degrees`,
      messages,
      tools: [WEATHER_TOOL],
    })
    assert.equal(final.choices[0].message.content, 'It is 21 degrees')
    const sent = await lastBody()
    assert.equal(sent.messages[1].role, 'assistant')
    assert.deepEqual(sent.messages[1].tool_calls, [toolCall])
    assert.deepEqual(sent.messages[2], { role: 'tool', tool_call_id: toolCall.id, content: '{"temperature":21}' })
    assert.deepEqual(sent.tools, [WEATHER_TOOL])
  })

  test('streamed tool calls accumulate by index', async () => {
    const stream = await client.chat.completions.create({
      model: `${MODEL};tool_call=get_weather,get_time;chunks=3`,
      messages: [{ role: 'user', content: 'weather and time?' }],
      tools: [WEATHER_TOOL],
      stream: true,
    })
    const calls = {}
    let finish = null
    for await (const chunk of stream) {
      assertChunkShape(chunk)
      for (const choice of chunk.choices) {
        for (const tc of choice.delta.tool_calls ?? []) {
          const entry = (calls[tc.index] ??= { id: '', name: '', arguments: '' })
          if (tc.id) entry.id = tc.id
          if (tc.function?.name) entry.name += tc.function.name
          if (tc.function?.arguments) entry.arguments += tc.function.arguments
        }
        finish = choice.finish_reason ?? finish
      }
    }
    assert.equal(finish, 'tool_calls')
    assert.deepEqual(Object.keys(calls), ['0', '1'])
    assert.deepEqual([calls[0].name, calls[1].name], ['get_weather', 'get_time'])
    for (const c of Object.values(calls)) {
      assert.deepEqual(JSON.parse(c.arguments), { city: 'Paris', unit: 'celsius' })
      assert.ok(c.id)
    }
  })

  test('response_format json_schema is sent and the JSON answer comes back', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer' } },
      required: ['name', 'age'],
      additionalProperties: false,
    }
    const completion = await client.chat.completions.create({
      model: `${MODEL};text=${encodeURIComponent(JSON.stringify({ name: 'Ada', age: 36 }))}`,
      messages: [{ role: 'user', content: 'Extract: Ada is 36.' }],
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
    })
    assert.deepEqual(JSON.parse(completion.choices[0].message.content), { name: 'Ada', age: 36 })
    const body = await lastBody()
    assert.equal(body.response_format.type, 'json_schema')
    assert.deepEqual(body.response_format.json_schema.schema, schema)
  })

  test("OpenAI's own options are sent as given", async () => {
    await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      frequency_penalty: 0.5,
      seed: 7,
      stop: ['END'],
      user: 'user-1',
      n: 1,
      logprobs: null,
    })
    const body = await lastBody()
    assert.deepEqual([body.frequency_penalty, body.seed, body.stop, body.user], [0.5, 7, ['END'], 'user-1'])
    assert.ok(!('logprobs' in body) && !('n' in body))
  })

  test('mistakes reject with InvalidRequestError naming them', async () => {
    const messages = [{ role: 'user', content: 'hi' }]
    const cases = [
      [{ n: 3 }, '`n` = 3'],
      [{ temprature: 1 }, 'unknown argument `temprature`'],
      [{ functions: [] }, '`functions`'],
      [{ stream_options: { include_usage: true } }, '`stream_options` is only allowed with `stream: true`'],
      [{ messages: [{ role: 'robot', content: 'x' }] }, 'robot'],
    ]
    for (const [extra, expected] of cases) {
      const e = await rejection(client.chat.completions.create({ model: MODEL, messages, ...extra }))
      assert.ok(e instanceof polyfuse.InvalidRequestError, `${JSON.stringify(extra)}: ${e}`)
      assert.ok(e.message.includes(expected), `${JSON.stringify(extra)}: ${e.message}`)
    }
    const missing = await rejection(client.chat.completions.create({ messages }))
    assert.match(missing.message, /`model` is missing/)
    const notObject = await rejection(client.chat.completions.create('mockhttp/gpt-4o-mini'))
    assert.match(notObject.message, /chat\.completions\.create\(body\): expected an object .* got a string/)
    const badOption = await rejection(client.chat.completions.create({ model: MODEL, messages }, { maxRetries: 2 }))
    assert.match(badOption.message, /`maxRetries`.*policy/)
    const unknown = await rejection(client.chat.completions.create({ model: MODEL, messages }, { sigal: null }))
    assert.match(unknown.message, /unknown option `sigal`/)
    const badSignal = await rejection(client.chat.completions.create({ model: MODEL, messages }, { signal: {} }))
    assert.match(badSignal.message, /option `signal`: expected an AbortSignal/)
  })

  test("provider errors are polyfuse's classes, also for streams (create() rejects)", async () => {
    const messages = [{ role: 'user', content: 'hi' }]
    const limited = await rejection(client.chat.completions.create({ model: `${MODEL};status=429`, messages }))
    assert.ok(limited instanceof polyfuse.RateLimitError)
    assert.equal(limited.kind, 'rate_limited')
    assert.equal(limited.statusCode ?? limited.status, 429)
    const auth = await rejection(client.chat.completions.create({ model: `${MODEL};status=401`, messages, stream: true }))
    assert.ok(auth instanceof polyfuse.AuthenticationError)
    assert.ok(!String(auth.message).includes(API_KEY))
    assert.ok(!JSON.stringify(auth).includes(API_KEY))
  })

  test('an AbortSignal cancels a call, and a stream mid-way, closing the connection', async () => {
    const disconnects = async () => (await server.stats()).client_disconnects
    let before = await disconnects()
    const controller = new AbortController()
    const call = client.chat.completions.create(
      { model: `${MODEL};hang=1`, messages: [{ role: 'user', content: 'x' }] },
      { signal: controller.signal },
    )
    assert.ok(await eventually(async () => (await server.stats()).in_flight > 0))
    controller.abort()
    const e = await rejection(call)
    assert.ok(e instanceof PolyfuseError)
    assert.equal(e.kind, 'cancelled')
    assert.ok(await eventually(async () => (await disconnects()) > before), 'the server saw the disconnect')

    before = await disconnects()
    const streamController = new AbortController()
    const stream = await client.chat.completions.create(
      { model: `${MODEL};words=50;chunk_delay_ms=50`, messages: [{ role: 'user', content: 'x' }], stream: true },
      { signal: streamController.signal },
    )
    const seen = []
    const err = await rejection(
      (async () => {
        for await (const chunk of stream) {
          seen.push(chunk)
          if (chunk.choices[0]?.delta?.content) streamController.abort()
        }
      })(),
    )
    assert.equal(err.kind, 'cancelled')
    assert.ok(seen.length >= 1)
    assert.ok(await eventually(async () => (await disconnects()) > before))

    const aborted = AbortSignal.abort()
    const early = await rejection(
      client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }, { signal: aborted }),
    )
    assert.equal(early.kind, 'cancelled')
  })

  test('break in for await cancels the call and closes the connection', async () => {
    const before = (await server.stats()).client_disconnects
    const stream = await client.chat.completions.create({
      model: `${MODEL};words=50;chunk_delay_ms=50`,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    })
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) break
    }
    const stats = await disconnectedSince(server, before)
    assert.ok(stats, 'the mock server saw the client disconnect')
    assert.equal(stats.client_disconnects, before + 1)
  })

  test('options.timeout is the total deadline of the call', async () => {
    const e = await rejection(
      client.chat.completions.create({ model: `${MODEL};hang=1`, messages: [{ role: 'user', content: 'x' }] }, { timeout: 100 }),
    )
    assert.ok(e instanceof polyfuse.TimeoutError, String(e))
  })

  test("routing, retries and usage are behind it", async () => {
    const events = []
    const routed = new Client({
      config: cfg(server, { chat: { targets: [`${MODEL};status=503`, 'mockhttp/backup'] } }),
      onUsage: (e) => events.push(e),
    })
    const r = await routed.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] })
    assert.equal(r.choices[0].message.content, 'Mock answer from backup: hi')
    const stream = await routed.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], stream: true })
    let text = ''
    for await (const c of stream) text += c.choices[0]?.delta?.content || ''
    assert.equal(text, 'Mock answer from backup: hi')
    await routed.flushUsage()
    const calls = events.filter((e) => e.level === 'call')
    assert.deepEqual(
      calls.map((e) => [e.route, e.outcome, e.streamed, e.attempts.length]),
      [
        ['chat', 'ok', false, 2],
        ['chat', 'ok', true, 2],
      ],
    )
  })

  test('a mid-stream restart is marked on its chunk', async () => {
    const cut = `${MODEL};words=6;cut_after=3`
    const healthy = `${MODEL};words=6`
    const routed = new Client({ config: cfg(server, { c: { targets: [cut, healthy] } }) })
    const stream = await routed.chat.completions.create({ model: 'c', messages: [{ role: 'user', content: 'hi' }], stream: true })
    const chunks = []
    for await (const c of stream) chunks.push(c)
    const marks = chunks.flatMap((c, i) => (c.polyfuse ? [i] : []))
    assert.equal(marks.length, 1)
    assert.equal(chunks[marks[0]].polyfuse.restart.model, healthy)
    assertChunkShape(chunks[marks[0]])
    const afterText = chunks
      .slice(marks[0] + 1)
      .map((c) => c.choices[0]?.delta?.content || '')
      .join('')
    assert.equal(afterText, 'w1 w2 w3 w4 w5 w6')
  })
})
