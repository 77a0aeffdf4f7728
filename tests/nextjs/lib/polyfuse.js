// One polyfuse client for the whole server (module state may be instantiated once per route
// bundle, so it is kept on globalThis). It talks to the mock provider server whose URL the test
// passes as POLYFUSE_MOCK_URL when it starts `next start`.
import { Client } from 'polyfuse'

export function client() {
  globalThis.polyfuseClient ??= new Client({
    config: {
      env_providers: false,
      providers: { mockhttp: { format: 'openai', base_url: `${process.env.POLYFUSE_MOCK_URL}/v1`, api_key: 'sk-test' } },
      policy: { max_attempts_per_target: 1 },
    },
  })
  return globalThis.polyfuseClient
}
