// Typings of `polyfuse/ai-sdk`: polyfuse as a Vercel AI SDK provider (`LanguageModelV3`, which
// `ai` 6 takes as `model`). The call options and results are the AI SDK's
// (`LanguageModelV3CallOptions` and friends of `@ai-sdk/provider`); they are typed loosely here
// so that polyfuse needs no `@ai-sdk/provider` installed.
import type { Client, ClientOptions } from './index'

/** What `providerMetadata.polyfuse` holds on results and `finish` parts. */
export interface PolyfuseProviderMetadata {
  requestId: string
  model: string
  provider: string
  latencyMs: number
  usageSource: string
  attempts: Array<Record<string, unknown>>
  providerModel?: string
  providerResponseId?: string
  route?: string
  ttftMs?: number
  costUsd?: number
}

/** `polyfuse(modelId)`: a `LanguageModelV3`. */
export declare class PolyfuseLanguageModel {
  readonly specificationVersion: 'v3'
  readonly provider: 'polyfuse'
  /** A `provider/model`, a route name or a `fusion/<name>`. */
  readonly modelId: string
  readonly supportedUrls: Record<string, RegExp[]>
  doGenerate(options: any): Promise<any>
  doStream(options: any): Promise<{ stream: ReadableStream<any> }>
}

export interface PolyfuseProvider {
  (modelId: string): PolyfuseLanguageModel
  languageModel(modelId: string): PolyfuseLanguageModel
  chat(modelId: string): PolyfuseLanguageModel
  /** The client the provider's models call through (built at first use). */
  readonly client: Client
}

/** `{ client }` to call through a client of yours, or `{ config, onUsage }` to build one. */
export type PolyfuseProviderSettings = { client: Client } | ClientOptions

export declare function createPolyfuse(settings?: PolyfuseProviderSettings): PolyfuseProvider

/** The default provider: built-in providers from the environment, and `mock`. */
export declare const polyfuse: PolyfuseProvider
