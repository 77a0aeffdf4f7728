// Every provider family from Node with one model-string syntax (`provider/model;mock-options`):
// Anthropic Messages, Gemini, Mistral and OpenRouter (OpenAI format at /api/v1), each served by
// the mock server in its own wire format. Complete, stream, normalized usage, an error kind, a
// tool round trip and structured output, checking what reached the wire in /_mock/requests.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { after, before, describe, test } from 'node:test'

import { collect, polyfuse, rejection, startMockServer } from './helpers.mjs'

const { Client, PolyfuseError } = polyfuse

/** provider name → the model, and the wire path its requests go to. */
const FAMILIES = {
  anth: { model: 'claude-sonnet-4-5', path: /^\/v1\/messages$/ },
  gem: { model: 'gemini-2.5-flash', path: /^\/v1beta\/models\/gemini-2\.5-flash[^:]*:(generateContent|streamGenerateContent)$/ },
  mis: { model: 'mistral-small-latest', path: /^\/v1\/chat\/completions$/ },
  orr: { model: 'openai/gpt-4o-mini', path: /^\/api\/v1\/chat\/completions$/ },
}

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
  },
}

const SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' } },
  required: ['city'],
  additionalProperties: false,
}
const RESPONSE_FORMAT = { type: 'json_schema', json_schema: { name: 'city', strict: true, schema: SCHEMA } }
// The answer text, %-encoded for the mock's option syntax (the same string works in a Gemini URL path).
const JSON_TEXT = encodeURIComponent('{"city":"Paris"}')

describe('providers', () => {
  let server
  let client
  before(async () => {
    server = await startMockServer()
    client = new Client({
      config: {
        env_providers: false,
        policy: { max_attempts_per_target: 1 },
        providers: {
          anth: { format: 'anthropic', base_url: `${server.url}/v1`, api_key: 'k' },
          gem: { format: 'gemini', base_url: `${server.url}/v1beta`, api_key: 'k' },
          mis: { format: 'mistral', base_url: `${server.url}/v1`, api_key: 'k', headers: { 'x-mock-format': 'mistral' } },
          orr: { format: 'openai', base_url: `${server.url}/api/v1`, api_key: 'k' },
        },
      },
    })
  })
  after(() => server.stop())

  /** The last request the mock server received, checked to be on `provider`'s wire path. */
  async function lastRequest(provider) {
    const request = (await server.requests()).at(-1)
    assert.match(request.path, FAMILIES[provider].path)
    return request
  }

  for (const [p, { model }] of Object.entries(FAMILIES)) {
    describe(p, () => {
      const usageOpts = 'prompt_tokens=30;completion_tokens=7;cached_tokens=10'

      test('complete: text, model, finish reason and normalized usage', async () => {
        const r = await client.complete({ model: `${p}/${model};${usageOpts}`, prompt: 'Hello there', maxTokens: 64 })
        assert.equal(r.text, `Mock answer from ${model}: Hello there`)
        assert.equal(r.provider, p)
        assert.equal(r.model, `${p}/${model};${usageOpts}`)
        assert.equal(r.providerModel, model)
        assert.equal(r.finishReason, 'stop')
        assert.deepEqual(r.message, { role: 'assistant', content: r.text })
        // Input counts cached tokens in every format (Anthropic's input_tokens excludes them on the wire).
        assert.equal(r.usage.inputTokens, 30)
        assert.equal(r.usage.cachedInputTokens, 10)
        assert.equal(r.usage.outputTokens, 7)
        assert.equal(r.usage.totalTokens, 37)
        assert.equal(r.openai.choices[0].message.content, r.text)
        // The key went in the provider's own header, and the mock redacted it in its log.
        const { headers } = await lastRequest(p)
        const keyHeader = { anth: 'x-api-key', gem: 'x-goog-api-key', mis: 'authorization', orr: 'authorization' }[p]
        assert.match(headers[keyHeader], /<redacted>/)
        if (p === 'anth') assert.ok(headers['anthropic-version'])
      })

      test('stream: deltas add up to the final text; final usage matches', async () => {
        const events = await collect(client.stream({ model: `${p}/${model};words=9;${usageOpts}`, prompt: 'Hi' }))
        const deltas = events.filter((e) => e.type === 'text_delta')
        assert.ok(deltas.length > 1, 'several deltas')
        const final = events.at(-1)
        assert.equal(final.type, 'final')
        assert.equal(deltas.map((e) => e.text).join(''), 'w1 w2 w3 w4 w5 w6 w7 w8 w9')
        assert.equal(final.response.text, 'w1 w2 w3 w4 w5 w6 w7 w8 w9')
        assert.equal(final.response.finishReason, 'stop')
        assert.equal(final.response.usage.inputTokens, 30)
        assert.equal(final.response.usage.cachedInputTokens, 10)
        assert.equal(final.response.usage.outputTokens, 7)
        assert.ok(final.response.ttftMs >= 0)
        const { body, path } = await lastRequest(p)
        if (p === 'gem') assert.match(path, /:streamGenerateContent$/)
        else assert.equal(body.stream, true)
        // Mistral rejects stream_options with a 422; the others get usage in the stream anyway.
        if (p === 'mis') assert.equal(body.stream_options, undefined)
      })

      test('429 → rate_limited with retryAfterMs (complete and stream)', async () => {
        const m = `${p}/${model};status=429;retry_after=2`
        for (const call of [() => client.complete({ model: m, prompt: 'x' }), () => collect(client.stream({ model: m, prompt: 'x' }))]) {
          const e = await rejection(call())
          assert.ok(e instanceof PolyfuseError)
          assert.equal(e.kind, 'rate_limited')
          assert.equal(e.status, 429)
          assert.equal(e.retryAfterMs, 2000)
          assert.equal(e.retryable, true)
          assert.equal(e.provider, p)
        }
      })

      test('tools: the call comes back, the result goes in, the answer is text', async () => {
        const messages = [{ role: 'user', content: 'Weather in Paris?' }]
        const first = await client.complete({ model: `${p}/${model};tool_call=get_weather`, messages, tools: [WEATHER_TOOL] })
        assert.equal(first.finishReason, 'tool_calls')
        assert.equal(first.toolCalls.length, 1)
        const [call] = first.toolCalls
        assert.equal(call.name, 'get_weather')
        assert.deepEqual(call.parsedArguments, { city: 'Paris', unit: 'celsius' })
        assert.ok(call.id)
        assert.equal(first.message.role, 'assistant')
        assert.equal(first.message.tool_calls[0].id, call.id)

        // The tool definition went out in the provider's own shape.
        const sent = (await lastRequest(p)).body
        if (p === 'anth') assert.deepEqual(sent.tools[0], { name: 'get_weather', description: 'Current weather in a city', input_schema: WEATHER_TOOL.function.parameters })
        else if (p === 'gem') {
          const decl = sent.tools[0].functionDeclarations[0]
          assert.equal(decl.name, 'get_weather')
          assert.deepEqual(decl.parametersJsonSchema, WEATHER_TOOL.function.parameters)
        } else assert.deepEqual(sent.tools, [WEATHER_TOOL])

        // The streamed tool call assembles to the same call.
        const events = await collect(client.stream({ model: `${p}/${model};tool_call=get_weather`, messages, tools: [WEATHER_TOOL] }))
        const streamed = events.at(-1).response
        assert.equal(streamed.finishReason, 'tool_calls')
        assert.equal(streamed.toolCalls[0].name, 'get_weather')
        assert.deepEqual(streamed.toolCalls[0].parsedArguments, { city: 'Paris', unit: 'celsius' })
        assert.ok(events.some((e) => e.type === 'tool_call_delta' && e.name === 'get_weather'))

        messages.push(first.message, { role: 'tool', tool_call_id: call.id, content: '{"temperature":21}' })
        const second = await client.complete({ model: `${p}/${model}`, messages, tools: [WEATHER_TOOL] })
        assert.equal(second.finishReason, 'stop')
        assert.equal(second.toolCalls.length, 0)
        assert.match(second.text, /^Mock answer from /)

        // The assistant's call and the tool result reached the provider in its own form.
        const body = (await lastRequest(p)).body
        if (p === 'anth') {
          const [user, assistant, result] = body.messages
          assert.equal(user.role, 'user')
          assert.equal(assistant.role, 'assistant')
          const use = assistant.content.find((b) => b.type === 'tool_use')
          assert.equal(use.id, call.id)
          assert.equal(use.name, 'get_weather')
          assert.deepEqual(use.input, { city: 'Paris', unit: 'celsius' })
          assert.equal(result.role, 'user')
          const tr = result.content.find((b) => b.type === 'tool_result')
          assert.equal(tr.tool_use_id, call.id)
          assert.match(JSON.stringify(tr.content), /temperature/)
        } else if (p === 'gem') {
          const parts = body.contents.flatMap((c) => c.parts)
          const fc = parts.find((x) => x.functionCall)
          assert.equal(fc.functionCall.name, 'get_weather')
          assert.deepEqual(fc.functionCall.args, { city: 'Paris', unit: 'celsius' })
          const fr = parts.find((x) => x.functionResponse)
          assert.equal(fr.functionResponse.name, 'get_weather')
          assert.deepEqual(fr.functionResponse.response, { temperature: 21 })
        } else {
          const [, assistant, result] = body.messages
          assert.equal(assistant.tool_calls[0].function.name, 'get_weather')
          assert.equal(result.role, 'tool')
          assert.equal(result.tool_call_id, assistant.tool_calls[0].id)
          assert.equal(result.content, '{"temperature":21}')
          if (p === 'mis') assert.match(result.tool_call_id, /^[a-zA-Z0-9]{9}$/)
          else assert.equal(result.tool_call_id, call.id)
        }
      })

      test('structured output: responseFormat json_schema reaches the body in the provider\'s form', async () => {
        const r = await client.complete({ model: `${p}/${model};text=${JSON_TEXT}`, prompt: 'City?', responseFormat: RESPONSE_FORMAT })
        assert.deepEqual(JSON.parse(r.text), { city: 'Paris' })
        const body = (await lastRequest(p)).body
        if (p === 'gem') {
          assert.equal(body.generationConfig.responseMimeType, 'application/json')
          assert.deepEqual(body.generationConfig.responseJsonSchema, SCHEMA)
        } else if (p === 'anth') {
          // Anthropic structured outputs: output_config.format = {type: 'json_schema', schema}.
          assert.deepEqual(body.output_config?.format, { type: 'json_schema', schema: SCHEMA })
        } else {
          assert.deepEqual(body.response_format, RESPONSE_FORMAT)
        }
      })
    })
  }

  test('the same error kinds for a bad key in every format, and the key never shows', async () => {
    const bad = new Client({
      config: {
        env_providers: false,
        policy: { max_attempts_per_target: 1 },
        providers: {
          anth: { format: 'anthropic', base_url: `${server.url}/v1`, api_key: 'bad-secret-777' },
          gem: { format: 'gemini', base_url: `${server.url}/v1beta`, api_key: 'bad-secret-777' },
          mis: { format: 'mistral', base_url: `${server.url}/v1`, api_key: 'bad-secret-777', headers: { 'x-mock-format': 'mistral' } },
          orr: { format: 'openai', base_url: `${server.url}/api/v1`, api_key: 'bad-secret-777' },
        },
      },
    })
    for (const [p, { model }] of Object.entries(FAMILIES)) {
      const e = await rejection(bad.complete({ model: `${p}/${model}`, prompt: 'x' }))
      assert.equal(e.kind, 'authentication', `${p}: ${e.kind} ${e.message}`)
      assert.equal(e.retryable, false)
      for (const view of [e.message, e.stack, JSON.stringify(e)]) assert.ok(!view.includes('secret-777'), `${p} leaked the key: ${view}`)
    }
  })
})

// The reasoning text some OpenAI-compatible providers send (DeepSeek `reasoning_content`), from a
// minimal hand-written server: the mock server has no reasoning text.
describe('reasoning', () => {
  let http
  let client
  before(async () => {
    http = createServer((req, res) => {
      let raw = ''
      req.on('data', (c) => (raw += c))
      req.on('end', () => {
        const body = JSON.parse(raw)
        const usage = { prompt_tokens: 5, completion_tokens: 9, total_tokens: 14, completion_tokens_details: { reasoning_tokens: 6 } }
        if (!body.stream) {
          res.setHeader('content-type', 'application/json')
          res.end(JSON.stringify({
            id: 'r1', object: 'chat.completion', created: 1, model: 'deepseek-reasoner',
            choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: '42', reasoning_content: 'Think. Then answer.' } }],
            usage,
          }))
          return
        }
        res.setHeader('content-type', 'text/event-stream')
        const chunk = (delta, extra = {}) =>
          `data: ${JSON.stringify({ id: 'r1', object: 'chat.completion.chunk', created: 1, model: 'deepseek-reasoner', choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`
        res.write(chunk({ role: 'assistant', reasoning_content: 'Think. ' }))
        res.write(chunk({ reasoning_content: 'Then answer.' }))
        res.write(chunk({ content: '42' }))
        res.write(`data: ${JSON.stringify({ id: 'r1', object: 'chat.completion.chunk', created: 1, model: 'deepseek-reasoner', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage })}\n\n`)
        res.end('data: [DONE]\n\n')
      })
    })
    http.listen(0, '127.0.0.1')
    await once(http, 'listening')
    const base = `http://127.0.0.1:${http.address().port}/v1`
    client = new Client({ config: { env_providers: false, providers: { ds: { format: 'openai', base_url: base, api_key: 'k' } } } })
  })
  after(() => new Promise((done) => http.close(done)))

  test('response.reasoning and reasoning_delta events', async () => {
    const r = await client.complete({ model: 'ds/deepseek-reasoner', prompt: 'Answer?' })
    assert.equal(r.text, '42')
    assert.equal(r.reasoning, 'Think. Then answer.')
    assert.equal(r.usage.reasoningTokens, 6)
    const events = await collect(client.stream({ model: 'ds/deepseek-reasoner', prompt: 'Answer?' }))
    const reasoning = events.filter((e) => e.type === 'reasoning_delta').map((e) => e.text).join('')
    assert.equal(reasoning, 'Think. Then answer.')
    assert.equal(events.at(-1).response.reasoning, 'Think. Then answer.')
    assert.equal(events.at(-1).response.text, '42')
  })

  test('no reasoning → the field is absent', async () => {
    const plain = new Client({ config: { env_providers: false } })
    const r = await plain.complete({ model: 'mock/echo', prompt: 'hi' })
    assert.equal(r.reasoning, undefined)
  })
})
