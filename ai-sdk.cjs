// polyfuse as a Vercel AI SDK provider: `polyfuse(modelId)` is a `LanguageModelV3` (the language
// model specification of `@ai-sdk/provider` 3, which `ai` 6 calls) for `generateText`,
// `streamText`, `generateObject` and `streamObject`. `modelId` is a `provider/model`, a route
// name or a `fusion/<name>` of the client's config.
//
// The core does the work (`polyfuse_core::ai_sdk`: call options → request, response → result,
// stream events → stream parts). This file only converts what JSON cannot hold: file data
// (bytes → base64, `URL` → its string) on the way in, the abort signal (passed beside the options),
// timestamps (epoch milliseconds → `Date`) on the way out, and the native stream into a
// `ReadableStream` of parts.
'use strict'

const { Client } = require('./index.js')

const SPECIFICATION = 'v3'

/** Bytes (Uint8Array / ArrayBuffer / Buffer) as base64; a URL as its string; others unchanged. */
function fileData(data) {
  if (data instanceof URL) return data.href
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('base64')
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64')
  return data
}

function jsonPrompt(prompt) {
  if (!Array.isArray(prompt)) return prompt
  return prompt.map((message) =>
    message && Array.isArray(message.content)
      ? {
          ...message,
          content: message.content.map((part) => (part && part.type === 'file' ? { ...part, data: fileData(part.data) } : part)),
        }
      : message,
  )
}

/** The call options without the signal, as JSON for the core. */
function jsonOptions(options) {
  if (options === null || typeof options !== 'object') return options
  const { abortSignal, prompt, ...rest } = options
  return { ...rest, prompt: jsonPrompt(prompt) }
}

function withDate(response) {
  return response && typeof response.timestamp === 'number' ? { ...response, timestamp: new Date(response.timestamp) } : response
}

/** The native part stream as a `ReadableStream`; cancelling it cancels the call. */
function partStream(native) {
  const iterator = native[Symbol.asyncIterator]()
  return new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await iterator.next()
        if (done) return controller.close()
        controller.enqueue(value.type === 'response-metadata' ? withDate(value) : value)
      } catch (error) {
        // As the specification's providers do: an error part, then the end of the stream.
        controller.enqueue({ type: 'error', error })
        controller.close()
      }
    },
    async cancel() {
      await iterator.return()
    },
  })
}

class PolyfuseLanguageModel {
  constructor(modelId, client) {
    if (typeof modelId !== 'string' || modelId === '') {
      throw new TypeError(`polyfuse(modelId): expected a model ('provider/model'), a route name or 'fusion/<name>', got ${modelId === '' ? 'an empty string' : typeof modelId}`)
    }
    this.specificationVersion = SPECIFICATION
    this.provider = 'polyfuse'
    this.modelId = modelId
    // Images and files are sent to the provider by URL as given.
    this.supportedUrls = { 'image/*': [/^https?:\/\/.*$/] }
    Object.defineProperty(this, 'client', { value: client, enumerable: false })
  }

  async doGenerate(options) {
    const result = await this.client()._aiSdkGenerate(this.modelId, jsonOptions(options), options?.abortSignal)
    return { ...result, response: withDate(result.response) }
  }

  async doStream(options) {
    const native = await this.client()._aiSdkStream(this.modelId, jsonOptions(options), options?.abortSignal)
    return { stream: partStream(native) }
  }
}

/**
 * A provider over one polyfuse `Client`: `createPolyfuse({ client })`, or
 * `createPolyfuse({ config, onUsage })` to build one (lazily, at the first call).
 */
function createPolyfuse(settings = {}) {
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) {
    throw new TypeError('createPolyfuse(settings): expected an object { client } or { config, onUsage }')
  }
  const unknown = Object.keys(settings).filter((k) => !['client', 'config', 'onUsage'].includes(k))
  if (unknown.length > 0) {
    throw new TypeError(`createPolyfuse(settings): unknown setting \`${unknown[0]}\` (the settings are \`client\`, or \`config\` and \`onUsage\`)`)
  }
  if (settings.client !== undefined && !(settings.client instanceof Client)) {
    throw new TypeError('createPolyfuse(settings): `client` must be a polyfuse Client')
  }
  if (settings.client !== undefined && (settings.config !== undefined || settings.onUsage !== undefined)) {
    throw new TypeError('createPolyfuse(settings): pass `client`, or `config` / `onUsage`, not both')
  }
  let client = settings.client
  const getClient = () => {
    if (client === undefined) {
      const options = {}
      if (settings.config !== undefined) options.config = settings.config
      if (settings.onUsage !== undefined) options.onUsage = settings.onUsage
      client = new Client(options)
    }
    return client
  }
  const provider = (modelId) => new PolyfuseLanguageModel(modelId, getClient)
  provider.languageModel = provider
  provider.chat = provider
  Object.defineProperty(provider, 'client', { get: getClient, enumerable: true })
  return provider
}

/** The default provider: a `Client` with the built-in providers from the environment and `mock`. */
const polyfuse = createPolyfuse()

module.exports = { createPolyfuse, polyfuse, PolyfuseLanguageModel }
