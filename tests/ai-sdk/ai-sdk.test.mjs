// polyfuse/ai-sdk driven by the real Vercel AI SDK (`ai` 6, installed into tests/ai-sdk by
// scripts/test.sh): generateText, streamText and generateObject with `model: polyfuse(...)` over
// the mock provider server (text, tool calls, usage with cached and reasoning tokens, finish
// reasons, routes and the attempts in provider metadata, errors, abort signals), and reasoning
// from recorded DeepSeek traffic (tests/fixtures/providers) served over a real socket.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import { generateObject, generateText, jsonSchema, streamText, tool } from 'ai'

import { ROOT, eventually, polyfuse as native, rejection, startMockServer } from '../node/helpers.mjs'

const { createPolyfuse, polyfuse } = await import(join(ROOT, 'ai-sdk.mjs'))
const require = createRequire(import.meta.url)
const MODEL = 'mockhttp/gpt-4o-mini'
const API_KEY = 'sk-test-ai-sdk-123456'

function cfg(server, extra = {}) {
  return {
    env_providers: false,
    providers: { mockhttp: { format: 'openai', base_url: server.baseUrl, api_key: API_KEY }, ...extra.providers },
    policy: { max_attempts_per_target: 1, breaker: { enabled: false } },
    routes: extra.routes ?? {},
  }
}

/** Serves one recorded response body (JSON or SSE) for every POST, over a real socket. */
async function recorded(file, contentType) {
  const body = readFileSync(join(ROOT, 'tests/fixtures/providers', file))
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': contentType })
      res.end(body)
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { baseUrl: `http://127.0.0.1:${server.address().port}/v1`, close: () => new Promise((r) => server.close(r)) }
}

describe('polyfuse/ai-sdk with the real ai package', () => {
  let server
  let provider
  before(async () => {
    server = await startMockServer()
    provider = createPolyfuse({ config: cfg(server) })
  })
  after(() => server.stop())
  const lastBody = async () => (await server.requests()).at(-1).body

  test('the entries: import and require give the same objects; the default provider has mock/', async () => {
    const cjs = require(join(ROOT, 'ai-sdk.cjs'))
    assert.equal(cjs.polyfuse, polyfuse)
    assert.equal(cjs.createPolyfuse, createPolyfuse)
    const model = polyfuse('mock/echo')
    assert.equal(model.specificationVersion, 'v3')
    assert.equal(model.provider, 'polyfuse')
    assert.equal(model.modelId, 'mock/echo')
    const { text } = await generateText({ model, prompt: 'hello there' })
    assert.ok(text.length > 0)
    assert.ok(polyfuse.client instanceof native.Client)
  })

  test('generateText: text, usage with cached and reasoning tokens, finish reason, provider metadata', async () => {
    const result = await generateText({
      model: provider(`${MODEL};text=Hello%20there;cached_tokens=3;reasoning_tokens=2`),
      system: 'You are terse.',
      prompt: 'Say hello',
      temperature: 0.3,
      maxOutputTokens: 40,
    })
    assert.equal(result.text, 'Hello there')
    assert.equal(result.finishReason, 'stop')
    const body = await lastBody()
    assert.deepEqual(body.messages, [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say hello' },
    ])
    assert.equal(body.temperature, 0.3)
    assert.equal(body.max_tokens ?? body.max_completion_tokens, 40)
    // The mock: prompt = words + 3 per message (3 + 2 + 6 = 11, at least the 3 cached); completion = 2 words + 2 reasoning.
    assert.equal(result.usage.inputTokens, 11)
    assert.equal(result.usage.inputTokenDetails.cacheReadTokens, 3)
    assert.equal(result.usage.inputTokenDetails.noCacheTokens, 8)
    assert.equal(result.usage.outputTokens, 4)
    assert.equal(result.usage.outputTokenDetails.reasoningTokens, 2)
    assert.equal(result.usage.outputTokenDetails.textTokens, 2)
    assert.equal(result.usage.totalTokens, 15)
    const meta = result.providerMetadata.polyfuse
    assert.equal(meta.provider, 'mockhttp')
    assert.equal(meta.attempts.length, 1)
    assert.equal(meta.attempts[0].outcome, 'ok')
    assert.ok(result.response.timestamp instanceof Date)
    assert.equal(result.response.modelId, 'gpt-4o-mini')
  })

  test('generateText with tools: the tool is called with the parsed input, and its result is in the steps', async () => {
    let called
    const result = await generateText({
      model: provider(`${MODEL};tools=1`),
      prompt: 'What is the weather in Paris?',
      tools: {
        get_weather: tool({
          description: 'The weather in a city',
          inputSchema: jsonSchema({
            type: 'object',
            properties: { city: { type: 'string' }, unit: { type: 'string' } },
            required: ['city'],
          }),
          execute: async (input) => {
            called = input
            return { temperature: 21 }
          },
        }),
      },
    })
    assert.equal(result.finishReason, 'tool-calls')
    assert.deepEqual(called, { city: 'Paris', unit: 'celsius' })
    assert.equal(result.toolCalls.length, 1)
    assert.equal(result.toolCalls[0].toolName, 'get_weather')
    assert.deepEqual(result.toolCalls[0].input, { city: 'Paris', unit: 'celsius' })
    assert.deepEqual(result.toolResults[0].output, { temperature: 21 })
    const body = await lastBody()
    assert.equal(body.tools[0].function.name, 'get_weather')
    assert.equal(body.tools[0].function.parameters.required[0], 'city')
  })

  test('a tool result goes back to the model as a tool message', async () => {
    const result = await generateText({
      model: provider(`${MODEL};text=It%20is%2021`),
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'call_1', toolName: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'call_1', toolName: 'get_weather', output: { type: 'json', value: { temperature: 21 } } }] },
      ],
    })
    assert.equal(result.text, 'It is 21')
    const sent = (await lastBody()).messages
    assert.equal(sent[1].tool_calls[0].id, 'call_1')
    assert.deepEqual(JSON.parse(sent[1].tool_calls[0].function.arguments), { city: 'Paris' })
    assert.equal(sent[2].role, 'tool')
    assert.equal(sent[2].tool_call_id, 'call_1')
    assert.deepEqual(JSON.parse(sent[2].content), { temperature: 21 })
  })

  test('streamText: the text stream, the full stream, usage and finish reason', async () => {
    const result = streamText({ model: provider(`${MODEL};words=5;cached_tokens=1`), prompt: 'count' })
    let text = ''
    for await (const delta of result.textStream) text += delta
    assert.equal(text, 'w1 w2 w3 w4 w5')
    assert.equal(await result.finishReason, 'stop')
    const usage = await result.usage
    assert.equal(usage.outputTokens, 5)
    assert.equal(usage.inputTokenDetails.cacheReadTokens, 1)
    const meta = (await result.providerMetadata).polyfuse
    assert.equal(meta.attempts.length, 1)
    assert.equal(typeof meta.ttftMs, 'number')

    const full = streamText({ model: provider(`${MODEL};tool_call=get_weather;chunks=3`), prompt: 'weather', tools: { get_weather: tool({ inputSchema: jsonSchema({ type: 'object' }) }) } })
    const types = []
    for await (const part of full.fullStream) types.push(part.type)
    assert.ok(types.includes('tool-input-start') && types.includes('tool-input-delta') && types.includes('tool-call'), types.join(','))
    assert.equal(await full.finishReason, 'tool-calls')
    const [call] = await full.toolCalls
    assert.deepEqual(call.input, { city: 'Paris', unit: 'celsius' })
  })

  test('generateObject: a JSON schema is sent as response_format and the object comes back', async () => {
    const answer = encodeURIComponent(JSON.stringify({ name: 'Ada', age: 36 }))
    const { object } = await generateObject({
      model: provider(`${MODEL};text=${answer}`),
      schema: jsonSchema({
        type: 'object',
        properties: { name: { type: 'string' }, age: { type: 'integer' } },
        required: ['name', 'age'],
        additionalProperties: false,
      }),
      prompt: 'Ada is 36.',
    })
    assert.deepEqual(object, { name: 'Ada', age: 36 })
    const body = await lastBody()
    assert.equal(body.response_format.type, 'json_schema')
    assert.deepEqual(body.response_format.json_schema.schema.required, ['name', 'age'])
  })

  test('a route name: failover is behind the model, and the attempts are in the metadata', async () => {
    const routed = createPolyfuse({ config: cfg(server, { routes: { chat: { targets: [`${MODEL};status=503`, 'mockhttp/backup'] } } }) })
    const result = await generateText({ model: routed('chat'), prompt: 'hi' })
    assert.equal(result.text, 'Mock answer from backup: hi')
    const meta = result.providerMetadata.polyfuse
    assert.equal(meta.route, 'chat')
    assert.deepEqual(meta.attempts.map((a) => a.outcome), ['error', 'ok'])
    assert.equal(meta.attempts[0].errorKind, 'overloaded')
  })

  test("errors are polyfuse's classes and carry no key", async () => {
    const e = await rejection(generateText({ model: provider(`${MODEL};status=401`), prompt: 'hi', maxRetries: 0 }))
    assert.ok(e instanceof native.AuthenticationError, String(e))
    assert.ok(!String(e.message).includes(API_KEY))
    const s = streamText({ model: provider(`${MODEL};status=429`), prompt: 'hi', maxRetries: 0, onError: () => {} })
    const parts = []
    for await (const part of s.fullStream) parts.push(part)
    const error = parts.find((p) => p.type === 'error')
    assert.ok(error && error.error instanceof native.RateLimitError, parts.map((p) => p.type).join(','))
  })

  test('an abort signal cancels generateText and streamText, closing the connection', async () => {
    let before = (await server.stats()).client_disconnects
    const controller = new AbortController()
    const call = generateText({ model: provider(`${MODEL};hang=1`), prompt: 'x', abortSignal: controller.signal, maxRetries: 0 })
    assert.ok(await eventually(async () => (await server.stats()).in_flight > 0))
    controller.abort()
    await rejection(call)
    assert.ok(await eventually(async () => (await server.stats()).client_disconnects > before))

    before = (await server.stats()).client_disconnects
    const streamController = new AbortController()
    const stream = streamText({
      model: provider(`${MODEL};words=50;chunk_delay_ms=50`),
      prompt: 'x',
      abortSignal: streamController.signal,
      onError: () => {},
    })
    let seen = 0
    for await (const part of stream.fullStream) {
      if (part.type === 'text-delta' && ++seen === 2) streamController.abort()
    }
    assert.ok(seen >= 2 && seen < 50)
    assert.ok(await eventually(async () => (await server.stats()).client_disconnects > before))
  })

  test('reasoning, from recorded DeepSeek traffic: streamed and not', async () => {
    const sse = await recorded('openai_compatible/pai_deepseek_stream_reasoning.response.sse', 'text/event-stream')
    const json = await recorded('openai_compatible/pai_deepseek_nonstream_tool_call_reasoning.response.json', 'application/json')
    try {
      const ds = createPolyfuse({
        config: {
          env_providers: false,
          providers: {
            sse: { format: 'openai', base_url: sse.baseUrl, api_key: 'sk-x-123456' },
            json: { format: 'openai', base_url: json.baseUrl, api_key: 'sk-x-123456' },
          },
          policy: { max_attempts_per_target: 1 },
        },
      })
      const streamed = streamText({ model: ds('sse/deepseek-reasoner'), prompt: 'hi' })
      const kinds = new Set()
      for await (const part of streamed.fullStream) kinds.add(part.type)
      assert.ok(kinds.has('reasoning-delta') && kinds.has('text-delta'), [...kinds].join(','))
      assert.ok((await streamed.reasoningText).length > 0)
      assert.ok((await streamed.text).length > 0)

      const result = await generateText({ model: ds('json/deepseek-v4'), prompt: 'dice' })
      assert.match(result.reasoningText, /dice game/)
      assert.equal(result.toolCalls[0].toolName, 'load_capability')
      assert.deepEqual(result.toolCalls[0].input, { id: 'DICE_ROLL' })
      assert.equal(result.finishReason, 'tool-calls')
    } finally {
      await sse.close()
      await json.close()
    }
  })

  test('bad settings name the mistake', () => {
    assert.throws(() => createPolyfuse({ confg: {} }), /unknown setting `confg`/)
    assert.throws(() => createPolyfuse({ client: {} }), /`client` must be a polyfuse Client/)
    assert.throws(() => provider(42), /polyfuse\(modelId\): expected a model/)
  })
})
