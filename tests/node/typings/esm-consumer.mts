// An ESM consumer of the typings (checked by tsc in tests/node/esm.test.mjs; never run).
import polyfuse, { Client, PolyfuseError, RateLimitError, TimeoutError, queryLedger, writeReport, type ErrorKind, type LedgerFilter, type Response } from 'polyfuse'

const client = new Client({ config: { env_providers: false }, onUsage: (ev) => void ev.usage.totalTokens })
export async function main(): Promise<string> {
  try {
    const r: Response = await client.complete({ model: 'mock/echo', prompt: 'hi', maxTokens: 5 })
    for await (const ev of client.stream({ model: 'mock/echo', prompt: 'hi' })) {
      if (ev.type === 'text_delta') void ev.text.length
    }
    return r.text
  } catch (e) {
    if (e instanceof RateLimitError) {
      const kind: 'rate_limited' = e.kind
      const wait: number | undefined = e.retryAfterMs
      return `${kind} ${wait}`
    }
    if (e instanceof TimeoutError) {
      // @ts-expect-error a TimeoutError's kind is 'timeout', never 'rate_limited'
      const wrong: 'rate_limited' = e.kind
      return wrong
    }
    if (e instanceof PolyfuseError) {
      const kind: ErrorKind = e.kind
      return kind
    }
    throw e
  }
}
export const staticKind: 'rate_limited' = RateLimitError.kind
export const sameModule: typeof Client = polyfuse.Client
// @ts-expect-error not a kind
export const notAKind: ErrorKind = 'boom'

// The usage ledger: a camelCase filter, typed results.
const filter: LedgerFilter = { sinceMs: 0, level: 'call', tags: { team: 'search' }, limit: 10 }
export async function ledger(): Promise<number> {
  const events = await queryLedger('usage.db', filter)
  const summary = await writeReport('usage.db', 'report.html', { model: 'mock/echo' })
  const stats = client.ledgerStats()
  return events.length + summary.charts + stats.written + events[0].usage.totalTokens
}
// @ts-expect-error the filter's keys are camelCase
export const snake: LedgerFilter = { since_ms: 0 }
