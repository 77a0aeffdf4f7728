// The configuration document, as the core reads it (`core/src/config`): the same snake_case keys
// as a polyfuse.json / polyfuse.toml file. Every object is closed (the core rejects unknown keys),
// so a misspelled key fails `tsc --strict` as it fails `new Client()`. tests/node/config-types.test.mjs
// checks every interface's keys and every union's values against what the core accepts.

import type { ErrorKind } from './index'

/** An error kind, as `retry_on`, `fallback_on` and `mock` failures name it: the core's `ErrorKind`. */
export type ConfigErrorKind = ErrorKind

export type WireFormat = 'openai' | 'anthropic' | 'gemini' | 'mistral' | 'mock'

/** One endpoint. For a built-in name (`openai`, `anthropic`, ...) every key is optional. */
export interface ProviderConfig {
  /** Required unless the name is a built-in. */
  format?: WireFormat
  /** Including the version path, e.g. `https://api.openai.com/v1`. */
  base_url?: string
  api_key?: string
  /** The environment variable to read the key from when `api_key` is not set. */
  api_key_env?: string
  /** `authorization` (as `Bearer KEY`, the default) or a header carrying the bare key (Azure: `api-key`). */
  auth_header?: string
  headers?: Record<string, string>
  query?: Record<string, string>
  /** `max_completion_tokens` (OpenAI) or `max_tokens`. */
  max_tokens_field?: string
}

export interface BreakerConfig {
  enabled?: boolean
  failure_threshold?: number
  cooldown_ms?: number
  wait_when_all_open?: boolean
}

/** How much a provider may send; hitting one is a `response_too_large` error naming it. */
export interface LimitsConfig {
  max_response_bytes?: number
  max_error_body_bytes?: number
  max_event_bytes?: number
  max_message_chars?: number
}

export type MidstreamConfig = 'restart' | 'continue'

/** Deadlines, retries and fallback. */
export interface PolicyConfig {
  connect_timeout_ms?: number
  total_timeout_ms?: number
  attempt_timeout_ms?: number | null
  first_token_timeout_ms?: number
  reasoning_first_token_timeout_ms?: number
  stream_idle_timeout_ms?: number
  max_attempts_per_target?: number
  backoff_initial_ms?: number
  backoff_max_ms?: number
  retry_after_cap_ms?: number
  retry_on?: ConfigErrorKind[]
  fallback_on?: ConfigErrorKind[]
  retry_silent?: boolean
  complete_via_stream?: boolean
  midstream?: MidstreamConfig
  breaker?: BreakerConfig
  limits?: LimitsConfig
}

export type StrategyConfig = 'ordered' | 'weighted' | 'least_in_flight' | 'lowest_latency' | 'lowest_cost'

export interface HedgeConfig {
  delay_ms?: number
  /** `p95` or a duration. */
  delay?: string
}

export interface TargetDetails {
  model: string
  context_window?: number | null
  weight?: number | null
  cost_per_mtok?: number | null
  first_token_timeout_ms?: number | null
  reasoning_first_token_timeout_ms?: number | null
  stream_idle_timeout_ms?: number | null
  attempt_timeout_ms?: number | null
}

/** A `provider/model`, or one with its own settings. */
export type TargetConfig = string | TargetDetails

export interface RouteConfig {
  targets: TargetConfig[]
  strategy?: StrategyConfig
  fallback_on?: ConfigErrorKind[] | null
  hedge?: HedgeConfig | null
  first_token_timeout_ms?: number | null
  reasoning_first_token_timeout_ms?: number | null
  stream_idle_timeout_ms?: number | null
  attempt_timeout_ms?: number | null
}

export interface MockToolCallConfig {
  name: string
  arguments?: unknown
}

export interface MockFailureConfig {
  kind: ConfigErrorKind
  message?: string | null
  status?: number | null
  retry_after_ms?: number | null
  times?: number | null
  after_chunks?: number | null
}

export interface MockModelConfig {
  text?: string | null
  latency_ms?: number
  ttft_ms?: number
  chunks?: number | null
  chunk_delay_ms?: number
  input_tokens?: number | null
  output_tokens?: number | null
  cached_input_tokens?: number | null
  reasoning_tokens?: number | null
  tool_calls?: MockToolCallConfig[]
  finish_reason?: string | null
  fail?: MockFailureConfig | null
}

export interface MockConfig {
  models?: Record<string, MockModelConfig>
}

export interface UsageConfig {
  queue_capacity?: number
  exit_flush_ms?: number
  /** `sqlite:///path/usage.db` or a plain path. */
  ledger?: string | null
}

/** USD per million tokens. */
export interface PricesConfig {
  input?: number | null
  output?: number | null
  cached_input?: number | null
  cache_write?: number | null
  cache_write_1h?: number | null
  reasoning?: number | null
}

export interface PriceTierConfig extends PricesConfig {
  /** Input tokens above which these prices apply. */
  above: number
}

export interface ModelPriceConfig extends PricesConfig {
  tiers?: PriceTierConfig[] | null
  context_window?: number | null
  max_output?: number | null
}

export interface PricingConfig {
  models?: Record<string, ModelPriceConfig>
}

export interface BudgetConfig {
  limit_usd?: number | null
  limit_tokens?: number | null
  /** `30s`, `15m`, `1h`, `1d` or `total`. */
  window: string
  /** `client`, `route:<name>` or `tag:<key>=<value>`. */
  scope: string
}

/** A named fusion (`fusions.<name>`, called as the model `fusion/<name>`): the options of `fuse`. */
export interface FusionConfig {
  /** Model strings or routes. */
  pool: string[]
  /** The judge's model or route. */
  judge?: string | null
  /** `merge` (default), `best-of`, `debate` or `vote`. */
  mode?: 'merge' | 'best-of' | 'debate' | 'vote'
  /** Usable answers to wait for before the grace timer starts (default: all). */
  quorum?: number | null
  /** How long the stragglers may still answer once the quorum is in. */
  grace_ms?: number | null
  /** Hard deadline per phase in ms (both phases). */
  deadline_ms?: number | null
  /** Debate rounds after the first answers (default 1, max 3). */
  rounds?: number | null
  /** The seed of the candidates' order. */
  seed?: number | null
  /** Best-of's rubric, replacing the default one. */
  rubric?: string | null
  /** The judge's instructions, replacing the mode's. */
  judge_prompt?: string | null
  /** Vote's answer extractor: `auto`, `boxed`, `final_answer`, `letter` or `json:<field>`. */
  extractor?: string | null
  /** Best-of: a second, order-swapped judge pass. */
  order_swap?: boolean
  /** Merge: analysis and answer in one judge call. */
  single_call?: boolean
  /** Skip the judge when the usable answers agree (default true). */
  agreement_shortcut?: boolean
  /** Debate: how the last round becomes one answer (`auto`, `vote`, `best-of`, `merge`). */
  finalize?: string | null
}

/** The configuration document: the same snake_case keys as a polyfuse.json / polyfuse.toml file. */
export interface ConfigDocument {
  /** Built-in providers from the usual environment variables (default true). */
  env_providers?: boolean
  providers?: Record<string, ProviderConfig>
  policy?: PolicyConfig
  routes?: Record<string, RouteConfig>
  mock?: MockConfig
  usage?: UsageConfig
  pricing?: PricingConfig
  budgets?: BudgetConfig[]
  /** Named fusions, called as the model `fusion/<name>`. */
  fusions?: Record<string, FusionConfig>
}
