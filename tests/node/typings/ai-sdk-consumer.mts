// A consumer of `polyfuse/ai-sdk`'s typings (tsc --strict in tests/node/esm.test.mjs; never run).
import { Client } from 'polyfuse'
import { createPolyfuse, polyfuse, type PolyfuseLanguageModel, type PolyfuseProviderMetadata } from 'polyfuse/ai-sdk'

const model: PolyfuseLanguageModel = polyfuse('openai/gpt-4o-mini')
export const version: 'v3' = model.specificationVersion
export const routed = createPolyfuse({ client: new Client() })('chat')
export const built = createPolyfuse({ config: { env_providers: false }, onUsage: (e) => void e.usage })
export function attempts(m: PolyfuseProviderMetadata): number {
  return m.attempts.length
}
// @ts-expect-error a model id is a string
polyfuse(42)
