// The ESM entry of `polyfuse/ai-sdk`: the very objects of the CommonJS one (ai-sdk.cjs).
import aiSdk from './ai-sdk.cjs'

export const { createPolyfuse, polyfuse, PolyfuseLanguageModel } = aiSdk
export default aiSdk
