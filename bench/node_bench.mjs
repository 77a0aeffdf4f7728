// Node binding vs the official `openai` npm package against the same mock provider server
// (tests/mock-server), non-streaming, tiny answers. Reports calls/s and CPU time per call
// (process.cpuUsage: user + system of this process, so polyfuse's tokio threads are counted).
//
//   npm run build            # release build of the native module
//   node bench/node_bench.mjs [--calls 3000] [--json]
import { createRequire } from 'node:module'

import { startMockServer } from '../tests/node/helpers.mjs'

const require = createRequire(import.meta.url)
const { Client } = require('..')
const OpenAI = require('openai').default ?? require('openai')

const argv = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? Number(argv[i + 1]) : dflt
}
const CALLS = opt('calls', 3000)
const MODEL = 'gpt-4o-mini;text=ok;prompt_tokens=5;completion_tokens=1'
const messages = [{ role: 'user', content: 'Say ok.' }]

const server = await startMockServer()
const polyfuse = new Client({
  config: {
    env_providers: false,
    providers: { mockhttp: { format: 'openai', base_url: server.baseUrl, api_key: 'sk-test-123' } },
    policy: { max_attempts_per_target: 1 },
  },
})
const openai = new OpenAI({ baseURL: server.baseUrl, apiKey: 'sk-test-123', maxRetries: 0 })

const impls = {
  polyfuse: async () => {
    const r = await polyfuse.complete({ model: `mockhttp/${MODEL}`, messages })
    if (r.text !== 'ok') throw new Error(`unexpected answer ${r.text}`)
  },
  openai: async () => {
    const r = await openai.chat.completions.create({ model: MODEL, messages })
    if (r.choices[0].message.content !== 'ok') throw new Error('unexpected answer')
  },
}

async function run(fn, calls, concurrency) {
  let next = 0
  const worker = async () => {
    while (next < calls) {
      next++
      await fn()
    }
  }
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  return { callsPerS: calls / wallS, cpuUsPerCall: (cpu.user + cpu.system) / calls, wallS }
}

const results = []
for (const concurrency of [1, 50]) {
  for (const name of ['polyfuse', 'openai']) {
    await run(impls[name], Math.min(500, CALLS), concurrency) // warm-up: connections, JIT
    const r = await run(impls[name], CALLS, concurrency)
    results.push({ impl: name, concurrency, calls: CALLS, ...r })
  }
}
await server.stop()

if (argv.includes('--json')) {
  console.log(JSON.stringify(results, null, 2))
} else {
  console.log(`node ${process.version}, ${CALLS} calls per run, mock server on loopback, non-streaming`)
  console.log('impl      conc  calls/s   CPU µs/call')
  for (const r of results) {
    console.log(`${r.impl.padEnd(9)} ${String(r.concurrency).padStart(4)}  ${r.callsPerS.toFixed(0).padStart(7)}   ${r.cpuUsPerCall.toFixed(0).padStart(8)}`)
  }
}
