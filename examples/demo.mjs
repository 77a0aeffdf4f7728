// polyfuse demo (Node): a routed completion, a stream and a fusion on the built-in in-process `mock` provider
// (no network, no key), printing the same output on every run; or on openai/gpt-4o-mini when
// OPENAI_API_KEY is set. Run from the repo after `npm install`: node examples/demo.mjs
import { Client, PolyfuseError } from 'polyfuse'

const live = Boolean(process.env.OPENAI_API_KEY)
const model = 'chat' // a route: the first target, then the fallback when it fails
const storyModel = live ? 'openai/gpt-4o-mini' : 'mock/storyteller'

// The same config document as examples/demo.py (snake_case keys in every language).
const config = {
  policy: { max_attempts_per_target: 1 },
  routes: { chat: { targets: live ? ['openai/gpt-4o-mini', 'mock/echo'] : ['mock/flaky', 'mock/echo'] } },
  mock: {
    models: {
      // mock/flaky fails with a 503 every time, so the route falls back to mock/echo.
      flaky: { fail: { kind: 'overloaded', status: 503 } },
      storyteller: { text: 'Once upon a time, a request found its way home.', chunk_delay_ms: 20 },
      // A fusion's panel and its judge, whose verdict is scripted here (the fusion always runs on the mock).
      'analyst-a': { text: 'Paris.', latency_ms: 30 },
      'analyst-b': { text: 'The capital of France is Paris.', latency_ms: 60 },
      'analyst-c': { text: 'Lyon.', latency_ms: 90 },
      judge: {
        text:
          'B is right and complete, A is right but terse, C is wrong. ' +
          '{"scores": {"A": 7, "B": 9, "C": 1}, "winner": "B", "confidence": "high", "rationale": "B answers the question in full"}',
      },
    },
  },
}

// Usage events are collected and printed at the end, once `flushUsage()` says they are all in.
const usage = []
const client = new Client({ config, onUsage: (ev) => usage.push(ev) })

try {
  console.log(`completion on ${model}:`)
  const r = await client.complete({
    model,
    messages: [{ role: 'user', content: 'Hello, polyfuse! Say hi in five words.' }],
    temperature: 0,
    maxTokens: 50,
  })
  console.log(`  ${r.text}`)
  console.log(`  ${r.model} answered; finish=${r.finishReason} tokens=${r.usage.inputTokens}+${r.usage.outputTokens}`)
  console.log(`  attempts: ${r.attempts.map((a) => `${a.model}:${a.outcome}`).join(', ')}`)

  console.log(`\nstream on ${storyModel}:`)
  process.stdout.write('  ')
  for await (const ev of client.stream({ model: storyModel, prompt: 'Tell me a very short story about a fox.', maxTokens: 80 })) {
    if (ev.type === 'text_delta') process.stdout.write(ev.text)
    else if (ev.type === 'final') console.log(`\n  finish=${ev.response.finishReason} tokens=${ev.response.usage.inputTokens}+${ev.response.usage.outputTokens}`)
  }

  console.log('\nfusion (best-of: 3 members in parallel, then a judge):')
  const pool = ['mock/analyst-a', 'mock/analyst-b', 'mock/analyst-c']
  const f = await client.fuse({ prompt: 'What is the capital of France?', pool, judge: 'mock/judge', mode: 'best-of', seed: 7 })
  const winner = f.candidates.find((c) => c.label === f.winner)
  console.log(`  ${f.answer} (candidate ${f.winner}, ${winner?.model})`)
  console.log(`  scores ${JSON.stringify(f.scores)}; ${f.calls} calls; parse path ${f.parsePath}`)
  console.log(`  candidates: ${f.candidates.map((c) => `${c.label}=${c.model}:${c.status}`).join(', ')}`)
} catch (e) {
  if (e instanceof PolyfuseError) console.error(`polyfuse error (${e.name}, kind ${e.kind}): ${e.message}`)
  throw e
}

await client.flushUsage()
console.log("\nusage events (one per call; attempts have their own; a fusion's members are under its own):")
for (const ev of usage.filter((e) => e.level !== 'attempt' && !e.parentId)) {
  console.log(`  ${ev.model} ${ev.outcome}${ev.streamed ? ' (stream)' : ''}: ${ev.usage.inputTokens} in / ${ev.usage.outputTokens} out, ${ev.attempts.length} attempt(s)`)
}
