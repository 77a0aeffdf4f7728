// The Node clients the bench compares, each as a set of ops (one function per scenario):
// polyfuse (default policy, `complete_via_stream: false`, a route with an unused fallback),
// openai-node, the Vercel AI SDK (generateText / streamText through @ai-sdk/openai) and raw
// undici. An op makes one call, checks the answer, and returns the time to first text (s) for a
// stream (null otherwise). Adding a scenario is one op function here and a line in the harness
// plan (e.g. `fuse` on polyfuse next to `fanout3_judge`, its floor).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..', '..')
const KEY = 'sk-bench-123'
const MESSAGES = [{ role: 'user', content: 'Say the words.' }]

const now = () => performance.now() / 1e3
const version = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version
const peerVersion = (pkg) => version(join(HERE, '..', 'node_modules', pkg))

function check(text, job) {
  if (text !== job.expect) {
    throw new Error(`unexpected answer ${JSON.stringify(text).slice(0, 80)} (expected ${JSON.stringify(job.expect).slice(0, 80)})`)
  }
}

/** Collects stream text and the time to its first piece. */
class Timing {
  constructor(job) {
    this.t0 = now()
    this.first = null
    this.text = ''
    this.job = job
  }
  add(text) {
    if (this.first === null) {
      this.first = now() - this.t0
      this.job.onFirst?.()
    }
    this.text += text
  }
  done() {
    check(this.text, this.job)
    return this.first
  }
}

// A usage callback that takes 100 ms: sync (blocks the JS thread: Atomics.wait) or async.
const SLOW_SYNC = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
const SLOW_ASYNC = () => new Promise((r) => setTimeout(r, 100))

function polyfuse(base, { policy, route = false, onUsage } = {}) {
  const { Client } = createRequire(import.meta.url)(ROOT)
  const config = (extra) => ({
    env_providers: false,
    providers: {
      mockhttp: { format: 'openai', base_url: base, api_key: KEY },
      mockfb: { format: 'openai', base_url: base, api_key: KEY },
    },
    ...(policy ? { policy } : {}),
    ...extra,
  })
  const plain = new Client({ config: config({}), ...(onUsage ? { onUsage } : {}) })
  const routed = new Map() // model -> Client with route "bench" = [model, fallback]
  const target = (model) => {
    if (!route) return [plain, `mockhttp/${model}`]
    let client = routed.get(model)
    if (!client) {
      const targets = [`mockhttp/${model}`, `mockfb/${model};key=fallback`]
      client = new Client({ config: config({ routes: { bench: { targets } } }) })
      routed.set(model, client)
    }
    return [client, 'route/bench']
  }
  const ops = {
    complete: async (job) => {
      const [client, model] = target(job.model)
      check((await client.complete({ model, messages: MESSAGES })).text, job)
      return null
    },
  }
  // The policy variant only changes how complete() talks to the provider.
  if (!policy) {
    ops.stream = async (job) => {
      const [client, model] = target(job.model)
      const t = new Timing(job)
      for await (const ev of client.stream({ model, messages: MESSAGES })) {
        if (ev.type === 'text_delta') t.add(ev.text)
      }
      return t.done()
    }
  }
  if (!route && !policy && !onUsage) {
    /** The floor of a fusion: 3 members at once, then a judge over their answers. */
    ops.fanout3_judge = async (job) => {
      const answers = await Promise.all(
        job.params.members.map((m) => plain.complete({ model: `mockhttp/${m}`, messages: MESSAGES })),
      )
      const prompt = answers.map((a) => a.text).join('\n')
      const judged = await plain.complete({ model: `mockhttp/${job.params.judge}`, messages: [{ role: 'user', content: prompt }] })
      check(judged.text, job)
      return null
    }
  }
  return { ops, versions: { polyfuse: version(ROOT) } }
}

async function openai(base) {
  const OpenAI = (await import('openai')).default
  const oa = new OpenAI({ baseURL: base, apiKey: KEY, maxRetries: 0 })
  return {
    ops: {
      complete: async (job) => {
        const r = await oa.chat.completions.create({ model: job.model, messages: MESSAGES })
        check(r.choices[0].message.content, job)
        return null
      },
      stream: async (job) => {
        const t = new Timing(job)
        const s = await oa.chat.completions.create({ model: job.model, messages: MESSAGES, stream: true })
        for await (const chunk of s) {
          const text = chunk.choices[0]?.delta?.content
          if (text) t.add(text)
        }
        return t.done()
      },
    },
    versions: { openai: peerVersion('openai') },
  }
}

async function aiSdk(base) {
  const { generateText, streamText } = await import('ai')
  const { createOpenAI } = await import('@ai-sdk/openai')
  const provider = createOpenAI({ baseURL: base, apiKey: KEY })
  const models = new Map()
  const model = (name) => models.get(name) ?? models.set(name, provider.chat(name)).get(name)
  return {
    ops: {
      complete: async (job) => {
        const r = await generateText({ model: model(job.model), messages: MESSAGES, maxRetries: 0 })
        check(r.text, job)
        return null
      },
      stream: async (job) => {
        const t = new Timing(job)
        let failure = null
        const r = streamText({ model: model(job.model), messages: MESSAGES, maxRetries: 0, onError: ({ error }) => (failure = error) })
        for await (const text of r.textStream) t.add(text)
        if (failure) throw failure
        return t.done()
      },
    },
    versions: { ai: peerVersion('ai'), '@ai-sdk/openai': peerVersion('@ai-sdk/openai') },
  }
}

async function undici(base) {
  const { Agent, request } = await import('undici')
  const agent = new Agent({ keepAliveTimeout: 30_000 })
  const url = `${base}/chat/completions`
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }
  const post = async (body) => {
    const res = await request(url, { method: 'POST', headers, body: JSON.stringify(body), dispatcher: agent })
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${await res.body.text()}`)
    return res.body
  }
  return {
    ops: {
      complete: async (job) => {
        const j = await (await post({ model: job.model, messages: MESSAGES })).json()
        check(j.choices[0].message.content, job)
        return null
      },
      stream: async (job) => {
        const t = new Timing(job)
        const body = await post({ model: job.model, messages: MESSAGES, stream: true })
        body.setEncoding('utf8')
        let buf = ''
        for await (const chunk of body) {
          buf += chunk
          let end
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const event = buf.slice(0, end)
            buf = buf.slice(end + 2)
            if (!event.startsWith('data: ') || event === 'data: [DONE]') continue
            const text = JSON.parse(event.slice(6)).choices[0]?.delta?.content
            if (text) t.add(text)
          }
        }
        return t.done()
      },
    },
    versions: { undici: peerVersion('undici') },
    close: () => agent.close(),
  }
}

const CLIENTS = {
  polyfuse: (base) => polyfuse(base),
  'polyfuse-plain': (base) => polyfuse(base, { policy: { complete_via_stream: false } }),
  'polyfuse-route': (base) => polyfuse(base, { route: true }),
  'polyfuse-slowcb': (base) => polyfuse(base, { onUsage: SLOW_SYNC }),
  'polyfuse-slowcb-async': (base) => polyfuse(base, { onUsage: SLOW_ASYNC }),
  openai,
  'ai-sdk': aiSdk,
  undici,
}

export async function makeClient(name, base) {
  const make = CLIENTS[name]
  if (!make) {
    console.error(`bench: unknown Node client '${name}' (known: ${Object.keys(CLIENTS).join(', ')})`)
    process.exit(2)
  }
  return make(base)
}
