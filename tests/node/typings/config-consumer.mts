// The config document's typings under tsc --strict (tests/node/esm.test.mjs; never run): a good
// document type-checks, and each mistake below is an error (an unused @ts-expect-error fails).
import { Client, type ConfigDocument } from 'polyfuse'

export const good: ConfigDocument = {
  env_providers: false,
  providers: { local: { format: 'openai', base_url: 'http://127.0.0.1:11434/v1', api_key: 'none' } },
  policy: { max_attempts_per_target: 3, retry_on: ['rate_limited', 'timeout'], breaker: { enabled: false }, midstream: 'continue' },
  routes: { chat: { targets: ['local/llama3', { model: 'openai/gpt-4o-mini', weight: 2 }], strategy: 'weighted', hedge: { delay_ms: 500 } } },
  mock: { models: { flaky: { text: 'ok', fail: { kind: 'rate_limited', times: 1 } } } },
  usage: { ledger: 'usage.db' },
  pricing: { models: { 'local/llama3': { input: 0, output: 0, tiers: [{ above: 200000, input: 1 }] } } },
  budgets: [{ limit_usd: 5, window: '1h', scope: 'client' }],
}
export const client = new Client({ config: good })

// @ts-expect-error `polcy` is not a key
export const misspelledPolicy: ConfigDocument = { polcy: {} }
// @ts-expect-error `targetz` is not a key of a route
export const misspelledTargets: ConfigDocument = { routes: { chat: { targetz: ['mock/echo'] } } }
// @ts-expect-error 'boom' is not an error kind
export const badKind: ConfigDocument = { mock: { models: { m: { fail: { kind: 'boom' } } } } }
// @ts-expect-error not a wire format
export const badFormat: ConfigDocument = { providers: { x: { format: 'openia' } } }
// @ts-expect-error a timeout is a number of milliseconds
export const badTimeout: ConfigDocument = { policy: { total_timeout_ms: '10s' } }
// @ts-expect-error in the Client's options too
export const inClient = new Client({ config: { polcy: {} } })
