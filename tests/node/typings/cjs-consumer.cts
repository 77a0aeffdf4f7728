// A CommonJS consumer of the typings (checked by tsc in tests/node/esm.test.mjs; never run).
import polyfuse = require('polyfuse')

const { Client, RateLimitError, PolyfuseError } = polyfuse

export async function main(): Promise<string> {
  const client = new Client()
  try {
    return (await client.complete({ model: 'mock/echo', messages: [{ role: 'user', content: 'hi' }] })).text
  } catch (e) {
    if (e instanceof RateLimitError) return e.kind
    if (e instanceof PolyfuseError) return `${e.kind} ${e.attempts.length}`
    throw e
  }
}
