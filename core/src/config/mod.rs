//! The configuration document: one shape for a Python dict, a JS object, or a JSON / TOML file.
//! `${ENV}` and `${ENV:-default}` are expanded in every string; every error names the key path.
//!
//! # Defaults
//! - Built-in providers (the table in `builtin.rs`) are registered from the usual environment
//!   variables (`env_providers = true`): `openai` (OPENAI_API_KEY), `openrouter`
//!   (OPENROUTER_API_KEY), `groq`, `together`, `deepseek`, `xai` (their `*_API_KEY`), `ollama`
//!   (no key, `OLLAMA_BASE_URL` / `OLLAMA_HOST`), `anthropic` (ANTHROPIC_API_KEY), `google`
//!   (GEMINI_API_KEY or GOOGLE_API_KEY), `mistral` (MISTRAL_API_KEY), and always `mock`. Base
//!   URLs come from the SDKs' variables too (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, ...).
//! - An entry named like a built-in needs no `format`: the built-in fills its gaps.
//! - A provider with format `anthropic`, `gemini` or `mistral` and no `base_url` uses the official
//!   endpoint of that format.
//! - `policy`: see [`Policy::default`]: a silent provider or a stalled stream moves on after 10 s
//!   (a reasoning call waits up to 120 s for its first output); a stream that keeps making
//!   progress is never cut; two attempts per target; the whole call never exceeds 600 s.
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::providers::mock::MockModelConfig;
use crate::types::error::{Error, ErrorKind, Result};

mod builtin;
mod env;
mod resolve;

pub(crate) use builtin::{builtin, BUILTINS};
use env::expand_env;
pub(crate) use resolve::build_providers;

/// A string that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The wire format a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireFormat {
    /// OpenAI Chat Completions (also OpenRouter, Groq, Together, DeepSeek, xAI, Ollama /v1, vLLM, Azure).
    Openai,
    Anthropic,
    Gemini,
    Mistral,
    /// polyfuse's in-process mock provider.
    Mock,
}

/// One configured endpoint. For a built-in name (`openai`, `anthropic`, ...) every field is
/// optional and the built-in's defaults fill the gaps (format, base URL, key variables).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The wire format; required unless the name is a built-in.
    #[serde(default)]
    pub format: Option<WireFormat>,
    /// Base URL including the version path, e.g. `https://api.openai.com/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Name of the environment variable to read the key from when `api_key` is not set.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Header that carries the key: `authorization` (as `Bearer KEY`, the default) or another
    /// name that carries the bare key (Azure: `api-key`).
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Extra headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Extra query parameters (Azure: `api-version`).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Field name for the output token limit: `max_completion_tokens` (OpenAI) or `max_tokens`
    /// (most compatible servers; the default for providers other than `openai`).
    #[serde(default)]
    pub max_tokens_field: Option<String>,
    /// The policy's limits, set when the client is built (not part of the document).
    #[serde(skip)]
    pub limits: Limits,
}

/// How much a provider may send (`policy.limits`). Hitting one is a `response_too_large` error
/// that names the limit; nothing a server sends grows memory without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A whole response: a JSON body, or the bytes of an event stream (128 MiB).
    pub max_response_bytes: u64,
    /// An error response's body: read up to this much, the rest is not read (1 MiB).
    pub max_error_body_bytes: u64,
    /// One line, or one event, of an event stream (16 MiB).
    pub max_event_bytes: u64,
    /// A provider's error message as kept in errors, attempts and usage events: cut to this
    /// many characters (2,000).
    pub max_message_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_bytes: 128 << 20,
            max_error_body_bytes: 1 << 20,
            max_event_bytes: 16 << 20,
            max_message_chars: 2_000,
        }
    }
}

/// Deadlines, retries and fallback: how one logical call is carried out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub connect_timeout_ms: u64,
    /// The whole call: every attempt, backoff and fallback included. Never exceeded.
    pub total_timeout_ms: u64,
    /// Caps one attempt, from sending the request to its last byte. Off by default: a stream
    /// that keeps making progress is never cut (the idle deadline catches a stall), and a plain
    /// (non-streaming) request is bounded by what is left of the total budget.
    pub attempt_timeout_ms: Option<u64>,
    /// An attempt whose first output (text, reasoning or a tool call) has not arrived this long
    /// after the request was sent is failed as silent and moves on. Keep-alives, pings and
    /// role-only chunks are not output.
    pub first_token_timeout_ms: u64,
    /// The first-token deadline of a call that asks for reasoning (`reasoning_effort`, Anthropic
    /// `thinking`, Gemini `thinkingConfig`) or names a model known to think before it speaks
    /// (o1/o3/o4, gpt-5, DeepSeek R1, Magistral, Grok 4, Gemini 2.5 Pro/Flash, `*thinking*`, ...).
    /// Such a call gets the larger of this and `first_token_timeout_ms`.
    pub reasoning_first_token_timeout_ms: u64,
    /// After the first output, a stream with no bytes at all (keep-alives count) for this long
    /// is failed as stalled and moves on.
    pub stream_idle_timeout_ms: u64,
    /// Attempts per target (the first try included).
    pub max_attempts_per_target: u32,
    /// Backoff before a retry: full jitter over `min(max, initial * 2^n)`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// The longest provider-requested wait (Retry-After) we sleep; a longer one falls back instead.
    pub retry_after_cap_ms: u64,
    /// Error kinds retried on the same target.
    pub retry_on: Vec<ErrorKind>,
    /// Error kinds that move on to the route's next target.
    pub fallback_on: Vec<ErrorKind>,
    /// Retry a target that timed out without a first token (a silent provider). Off by default.
    pub retry_silent: bool,
    /// Carry out `complete` calls as streams under the hood, so that a silent provider or a
    /// stalled answer is detected by the first-token and idle deadlines instead of waiting for
    /// the whole attempt timeout. The caller still gets one Response. Calls with `include_raw`
    /// are never streamed (the raw body is the non-streaming one).
    pub complete_via_stream: bool,
    /// What a stream does when a target fails after output was shown: `restart` on the next
    /// attempt (a `restart` event tells the consumer to discard what it showed), or `continue`
    /// there by assistant prefill where the target supports it (Anthropic), restarting elsewhere.
    pub midstream: Midstream,
    pub breaker: BreakerPolicy,
    /// How much a provider may send (response, error body, one stream event).
    pub limits: Limits,
}

impl Default for Policy {
    fn default() -> Self {
        use ErrorKind::*;
        Policy {
            connect_timeout_ms: 5_000,
            total_timeout_ms: 600_000,
            attempt_timeout_ms: None,
            first_token_timeout_ms: 10_000,
            reasoning_first_token_timeout_ms: 120_000,
            stream_idle_timeout_ms: 10_000,
            max_attempts_per_target: 2,
            backoff_initial_ms: 500,
            backoff_max_ms: 8_000,
            retry_after_cap_ms: 10_000,
            retry_on: vec![
                RateLimited,
                Overloaded,
                Server,
                Timeout,
                Connection,
                InvalidResponse,
            ],
            fallback_on: vec![
                RateLimited,
                Overloaded,
                Server,
                Timeout,
                Connection,
                InvalidResponse,
                ContextWindowExceeded,
                Quota,
                Authentication,
                Permission,
                ResponseTooLarge,
            ],
            retry_silent: false,
            complete_via_stream: true,
            midstream: Midstream::Restart,
            breaker: BreakerPolicy::default(),
            limits: Limits::default(),
        }
    }
}

/// Mid-stream failover mode, see [`Policy::midstream`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Midstream {
    #[default]
    Restart,
    Continue,
}

/// Circuit breaker per target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerPolicy {
    pub enabled: bool,
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker keeps traffic away before one probe is let through.
    pub cooldown_ms: u64,
    /// When every target of a route is open, wait for the first to cool down (within the total
    /// budget) instead of failing at once.
    pub wait_when_all_open: bool,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            enabled: true,
            failure_threshold: 5,
            cooldown_ms: 15_000,
            wait_when_all_open: true,
        }
    }
}

/// A named group of targets: a request may name a route where it names a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub targets: Vec<TargetConfig>,
    /// How the first target of each call is chosen; the others follow as fallbacks.
    #[serde(default)]
    pub strategy: Strategy,
    /// Overrides `policy.fallback_on` for this route.
    #[serde(default)]
    pub fallback_on: Option<Vec<ErrorKind>>,
    /// Send a backup request to the next target when the first is slow.
    #[serde(default)]
    pub hedge: Option<HedgeConfig>,
    /// Deadlines for this route's attempts (override `policy`; a target's own override these).
    #[serde(default)]
    pub first_token_timeout_ms: Option<u64>,
    #[serde(default)]
    pub reasoning_first_token_timeout_ms: Option<u64>,
    #[serde(default)]
    pub stream_idle_timeout_ms: Option<u64>,
    #[serde(default)]
    pub attempt_timeout_ms: Option<u64>,
}

impl RouteConfig {
    /// This route's deadline overrides.
    pub fn deadlines(&self) -> DeadlineOverrides {
        DeadlineOverrides {
            first_token_timeout_ms: self.first_token_timeout_ms,
            reasoning_first_token_timeout_ms: self.reasoning_first_token_timeout_ms,
            stream_idle_timeout_ms: self.stream_idle_timeout_ms,
            attempt_timeout_ms: self.attempt_timeout_ms,
        }
    }
}

/// Deadline overrides of one level (a route, a target, a call); unset fields defer to the level
/// above (call > target > route > policy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadlineOverrides {
    pub first_token_timeout_ms: Option<u64>,
    pub reasoning_first_token_timeout_ms: Option<u64>,
    pub stream_idle_timeout_ms: Option<u64>,
    pub attempt_timeout_ms: Option<u64>,
}

impl DeadlineOverrides {
    /// `self` where set, else `below`.
    pub fn or(self, below: DeadlineOverrides) -> DeadlineOverrides {
        DeadlineOverrides {
            first_token_timeout_ms: self.first_token_timeout_ms.or(below.first_token_timeout_ms),
            reasoning_first_token_timeout_ms: self
                .reasoning_first_token_timeout_ms
                .or(below.reasoning_first_token_timeout_ms),
            stream_idle_timeout_ms: self.stream_idle_timeout_ms.or(below.stream_idle_timeout_ms),
            attempt_timeout_ms: self.attempt_timeout_ms.or(below.attempt_timeout_ms),
        }
    }
}

/// Load-balancing strategy of a route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Targets in the order written.
    #[default]
    Ordered,
    /// Random, proportional to each target's `weight` (default 1).
    Weighted,
    /// The target with the fewest requests in flight from this client.
    LeastInFlight,
    /// The target with the lowest recent latency (EWMA); untried targets first.
    LowestLatency,
    /// The target with the lowest declared `cost_per_mtok`.
    LowestCost,
}

/// Hedged requests: after `delay_ms` (or the target's recent p95 latency with `delay = "p95"`)
/// without an answer, the next target is asked too; the first success wins, the other is cancelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HedgeConfig {
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// `"p95"`: the primary's recent 95th-percentile latency (falls back to `delay_ms`, or 2 s,
    /// until enough samples exist).
    #[serde(default)]
    pub delay: Option<String>,
}

/// One target of a route: a `provider/model`, optionally with its context window (a
/// context-window-exceeded error moves on only to targets whose window is larger or unknown)
/// and its own deadlines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetConfig {
    Model(String),
    Detailed {
        model: String,
        #[serde(default)]
        context_window: Option<u64>,
        /// Share of traffic under the `weighted` strategy.
        #[serde(default)]
        weight: Option<f64>,
        /// USD per million tokens, for the `lowest_cost` strategy.
        #[serde(default)]
        cost_per_mtok: Option<f64>,
        #[serde(default)]
        first_token_timeout_ms: Option<u64>,
        #[serde(default)]
        reasoning_first_token_timeout_ms: Option<u64>,
        #[serde(default)]
        stream_idle_timeout_ms: Option<u64>,
        #[serde(default)]
        attempt_timeout_ms: Option<u64>,
    },
}

impl TargetConfig {
    pub fn model(&self) -> &str {
        match self {
            TargetConfig::Model(m) | TargetConfig::Detailed { model: m, .. } => m,
        }
    }
    pub fn context_window(&self) -> Option<u64> {
        match self {
            TargetConfig::Model(_) => None,
            TargetConfig::Detailed { context_window, .. } => *context_window,
        }
    }
    pub fn weight(&self) -> f64 {
        match self {
            TargetConfig::Detailed {
                weight: Some(w), ..
            } => *w,
            _ => 1.0,
        }
    }
    /// This target's deadline overrides.
    pub fn deadlines(&self) -> DeadlineOverrides {
        match self {
            TargetConfig::Model(_) => DeadlineOverrides::default(),
            TargetConfig::Detailed {
                first_token_timeout_ms,
                reasoning_first_token_timeout_ms,
                stream_idle_timeout_ms,
                attempt_timeout_ms,
                ..
            } => DeadlineOverrides {
                first_token_timeout_ms: *first_token_timeout_ms,
                reasoning_first_token_timeout_ms: *reasoning_first_token_timeout_ms,
                stream_idle_timeout_ms: *stream_idle_timeout_ms,
                attempt_timeout_ms: *attempt_timeout_ms,
            },
        }
    }
    pub fn cost_per_mtok(&self) -> Option<f64> {
        match self {
            TargetConfig::Model(_) => None,
            TargetConfig::Detailed { cost_per_mtok, .. } => *cost_per_mtok,
        }
    }
}

/// The `mock` section: scripted behaviour per `mock/<name>` model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    #[serde(default)]
    pub models: BTreeMap<String, MockModelConfig>,
}

/// The whole document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Register the built-in providers whose environment keys are set.
    #[serde(default = "yes")]
    pub env_providers: bool,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    pub policy: Policy,
    /// Named routes, addressed as `route/<name>` or by bare name.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteConfig>,
    #[serde(default)]
    pub mock: MockConfig,
    /// Usage events: their delivery to callbacks.
    #[serde(default)]
    pub usage: UsageConfig,
    /// Prices and context windows that override or extend the built-in model catalogue.
    #[serde(default)]
    pub pricing: PricingConfig,
    /// Spending limits: `[{ limit_usd, limit_tokens, window, scope }]`, checked before every
    /// attempt (see `usage::budget`).
    #[serde(default)]
    pub budgets: Vec<crate::usage::BudgetConfig>,
}

/// The `pricing` section: `models."<provider/model>" = { input, output, cached_input,
/// cache_write, cache_write_1h, reasoning, tiers, context_window, max_output }` in USD per
/// million tokens; an entry for a catalogued model replaces the fields it gives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    #[serde(default)]
    pub models: BTreeMap<String, crate::usage::ModelInfo>,
}

/// The `usage` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageConfig {
    /// Events waiting for the callbacks; beyond this, new events are dropped (and counted), so a
    /// slow callback never holds up a call.
    pub queue_capacity: usize,
    /// At interpreter / process exit, how long queued events may still be delivered.
    pub exit_flush_ms: u64,
    /// The durable usage ledger (off when absent): an SQLite file path or `sqlite:///path`.
    /// Every event is written there; a call returns once its events are committed.
    pub ledger: Option<crate::usage::ledger::LedgerLocation>,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            queue_capacity: 65_536,
            exit_flush_ms: 5_000,
            ledger: None,
        }
    }
}

fn yes() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        Config {
            env_providers: true,
            providers: BTreeMap::new(),
            policy: Policy::default(),
            routes: BTreeMap::new(),
            mock: MockConfig::default(),
            usage: UsageConfig::default(),
            pricing: PricingConfig::default(),
            budgets: Vec::new(),
        }
    }
}

impl Config {
    /// Parses a document given as a JSON value (a Python dict or JS object converted).
    pub fn from_value(value: Value) -> Result<Config> {
        Self::from_value_with_env(value, &|name| std::env::var(name).ok())
    }

    /// As [`Config::from_value`], with a custom environment lookup (for tests).
    pub fn from_value_with_env(
        mut value: Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        if !value.is_object() {
            return Err(Error::config(format!(
                "config: expected an object (dict) at the top level, got {}",
                crate::types::request::json_type(&value)
            )));
        }
        expand_env(&mut value, &mut Vec::new(), env)?;
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if path == "." {
                Error::config(format!("config: {inner}"))
            } else {
                Error::config(format!("config key `{path}`: {inner}"))
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a JSON or TOML document given as text; `format` is `json` or `toml`.
    pub fn from_str(text: &str, format: &str) -> Result<Config> {
        let value: Value = match format {
            "json" => serde_json::from_str(text)
                .map_err(|e| Error::config(format!("config (JSON): {e}")))?,
            "toml" => {
                toml::from_str(text).map_err(|e| Error::config(format!("config (TOML): {e}")))?
            }
            other => {
                return Err(Error::config(format!(
                    "config: unknown format `{other}`, expected json or toml"
                )))
            }
        };
        Self::from_value(value)
    }

    /// Reads a `.json` or `.toml` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("config file `{}`: {e}", path.display())))?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => "toml",
            Some("json") => "json",
            _ => {
                return Err(Error::config(format!(
                    "config file `{}`: expected a .json or .toml file",
                    path.display()
                )))
            }
        };
        Self::from_str(&text, format).map_err(|mut e| {
            e.message = format!("{}: {}", path.display(), e.message);
            e
        })
    }

    fn validate(&self) -> Result<()> {
        for (name, p) in &self.providers {
            if name.is_empty() || name.contains('/') {
                return Err(Error::config(format!(
                    "config key `providers.{name}`: a provider name must be non-empty and contain no `/`"
                )));
            }
            match p.format {
                None if builtin(name).is_none() => {
                    return Err(Error::config(format!(
                        "config key `providers.{name}.format`: required for a provider that is not built in (one of openai, anthropic, gemini, mistral, mock; the built-in names are {})",
                        BUILTINS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
                    )));
                }
                Some(WireFormat::Openai) if p.base_url.is_none() && builtin(name).is_none() => {
                    return Err(Error::config(format!(
                        "config key `providers.{name}.base_url`: required for a provider that is not built in"
                    )));
                }
                // A built-in name fills its own gaps; a native format defaults to its official
                // endpoint.
                _ => {}
            }
            if let Some(url) = &p.base_url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(Error::config(format!(
                        "config key `providers.{name}.base_url`: expected an http:// or https:// URL, got `{url}`"
                    )));
                }
            }
        }
        for (name, route) in &self.routes {
            if route.targets.is_empty() {
                return Err(Error::config(format!(
                    "config key `routes.{name}.targets`: a route needs at least one target"
                )));
            }
            if let Some(h) = &route.hedge {
                if h.delay_ms.is_none() && h.delay.is_none() {
                    return Err(Error::config(format!(
                        "config key `routes.{name}.hedge`: set `delay_ms` or `delay = \"p95\"`"
                    )));
                }
                if let Some(d) = h.delay.as_deref().filter(|d| *d != "p95") {
                    return Err(Error::config(format!(
                        "config key `routes.{name}.hedge.delay`: expected \"p95\", got `{d}`"
                    )));
                }
            }
            for (i, t) in route.targets.iter().enumerate() {
                if !(t.weight() >= 0.0 && t.weight().is_finite()) {
                    return Err(Error::config(format!("config key `routes.{name}.targets[{i}].weight`: must be a non-negative number")));
                }
                if !t.model().contains('/') {
                    return Err(Error::config(format!(
                        "config key `routes.{name}.targets[{i}]`: expected `provider/model`, got `{}`",
                        t.model()
                    )));
                }
            }
        }
        if self.policy.max_attempts_per_target == 0 {
            return Err(Error::config(
                "config key `policy.max_attempts_per_target`: must be at least 1",
            ));
        }
        if self.policy.total_timeout_ms == 0 {
            return Err(Error::config(
                "config key `policy.total_timeout_ms`: must be greater than 0",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        (name == "LOCAL_KEY").then(|| "k-123".to_string())
    }

    #[test]
    fn env_expansion_and_defaults() {
        let c = Config::from_value_with_env(
            json!({"providers": {"local": {"format": "openai", "base_url": "${LOCAL_URL:-http://127.0.0.1:1/v1}", "api_key": "${LOCAL_KEY}"}}}),
            &env,
        )
        .unwrap();
        let p = &c.providers["local"];
        assert_eq!(p.base_url.as_deref(), Some("http://127.0.0.1:1/v1"));
        assert_eq!(p.api_key.as_ref().unwrap().expose(), "k-123");
        assert!(!format!("{c:?}").contains("k-123"));
    }

    #[test]
    fn missing_env_names_key_path() {
        let e = Config::from_value_with_env(
            json!({"providers": {"local": {"format": "openai", "base_url": "http://x/v1", "api_key": "${NOPE}"}}}),
            &env,
        )
        .unwrap_err();
        assert!(
            e.message.contains("providers.local.api_key"),
            "{}",
            e.message
        );
        assert!(e.message.contains("NOPE"), "{}", e.message);
    }

    #[test]
    fn wrong_type_names_key_path() {
        let e = Config::from_value(json!({"policy": {"connect_timeout_ms": "soon"}})).unwrap_err();
        assert!(
            e.message.contains("policy.connect_timeout_ms"),
            "{}",
            e.message
        );
        let e = Config::from_value(json!({"providers": {"x": {"format": "openai", "base_url": "http://h/v1", "bogus": 1}}}))
            .unwrap_err();
        assert!(
            e.message.contains("providers.x") && e.message.contains("bogus"),
            "{}",
            e.message
        );
    }

    #[test]
    fn toml_document() {
        let c = Config::from_str(
            "[providers.local]\nformat = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n[mock.models.slow]\nlatency_ms = 5\n",
            "toml",
        )
        .unwrap();
        assert_eq!(c.mock.models["slow"].latency_ms, 5);
    }
}
