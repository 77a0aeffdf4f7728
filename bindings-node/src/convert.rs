//! Conversions between JS values and core types: the call options object → a core `Request`
//! (camelCase parameter names → the core's snake_case ones), the `config` option → a `Config`,
//! and core results → plain JS objects with camelCase fields.
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{Map, Value};

use polyfuse_core as core;

use crate::options::{self, type_name};

// ---------------------------------------------------------------------------------------------
// Results: core → JS
// ---------------------------------------------------------------------------------------------

/// Token counts with one meaning for every provider.
#[napi(object)]
pub struct Usage {
    /// All input tokens, cached ones included.
    pub input_tokens: i64,
    /// All output tokens, reasoning included.
    pub output_tokens: i64,
    /// Of `inputTokens`, those read from the provider's prompt cache.
    pub cached_input_tokens: i64,
    /// Of `inputTokens`, those written to the provider's prompt cache.
    pub cache_write_tokens: i64,
    /// Of `outputTokens`, those spent on reasoning.
    pub reasoning_tokens: i64,
    /// Cost in USD, when known.
    pub cost_usd: Option<f64>,
    /// `inputTokens + outputTokens`.
    pub total_tokens: i64,
    /// Where the figures come from: `reported` by the provider, `estimated` by polyfuse,
    /// `unknown` (a stream cut or cancelled before its usage arrived: 0 means unknown), `none`
    /// (nothing was consumed).
    #[napi(ts_type = "'reported' | 'estimated' | 'unknown' | 'none'")]
    pub source: String,
}

/// One try at one target.
#[napi(object)]
pub struct Attempt {
    /// `provider/model` as requested.
    pub model: String,
    pub provider: String,
    #[napi(ts_type = "'ok' | 'error' | 'cancelled'")]
    pub outcome: String,
    #[napi(ts_type = "ErrorKind")]
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub status: Option<u32>,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub usage: Usage,
    /// 1 for the call's first attempt, counting every target.
    pub number: u32,
    /// A hedge: a backup request sent while an earlier one was still running.
    pub hedge: bool,
    /// Made on a target after an earlier target of the route had failed.
    pub fallback: bool,
}

/// A tool call of the answer, with its arguments parsed.
#[napi(object)]
pub struct ToolCall {
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments as the model wrote them (a JSON document).
    pub arguments: String,
    /// `JSON.parse(arguments)`, or `null` when the model wrote invalid JSON.
    #[napi(ts_type = "unknown")]
    pub parsed_arguments: Value,
}

/// The result of a successful call.
#[napi(object)]
pub struct Response {
    /// polyfuse's id for this call (also the `requestId` of its usage event).
    pub id: String,
    /// The provider's response id (`chatcmpl-...`).
    pub provider_response_id: Option<String>,
    /// The answer's text (empty when the model only called tools).
    pub text: String,
    /// The assistant message in the OpenAI shape, ready to append to `messages`.
    #[napi(ts_type = "ChatMessage")]
    pub message: Value,
    #[napi(ts_type = "FinishReason")]
    pub finish_reason: String,
    pub usage: Usage,
    /// `provider/model` that answered.
    pub model: String,
    pub provider: String,
    /// The model name the provider reported (e.g. `gpt-4o-mini-2024-07-18`).
    pub provider_model: Option<String>,
    pub route: Option<String>,
    pub latency_ms: f64,
    /// Time to first token (streams).
    pub ttft_ms: Option<f64>,
    pub attempts: Vec<Attempt>,
    /// The provider's raw body (non-streaming calls with `includeRaw: true`).
    #[napi(ts_type = "unknown")]
    pub raw: Option<Value>,
    /// The model's reasoning / thinking text, when the provider exposes it.
    pub reasoning: Option<String>,
    /// The tool calls of `message`, with parsed arguments.
    pub tool_calls: Vec<ToolCall>,
    /// The same response as an OpenAI `chat.completion` object (snake_case, as the OpenAI SDK returns it).
    #[napi(ts_type = "OpenAIChatCompletion")]
    pub openai: Value,
    /// The whole fusion result, when the model was `fusion/<name>`.
    pub fusion: Option<crate::fusion::FusionResult>,
}

/// One event of a streamed call. `restart` means another target took over mid-stream: discard
/// what was shown. A successful stream always ends with exactly one `final` event.
#[napi(discriminant = "type", discriminant_case = "snake_case")]
#[allow(clippy::large_enum_variant)] // short-lived; napi converts it by value
pub enum StreamEvent {
    /// A piece of the answer's text.
    TextDelta { text: String },
    /// A piece of reasoning text (models that expose it).
    ReasoningDelta { text: String },
    /// A piece of a tool call; `id` and `name` come with the first piece of each index.
    ToolCallDelta {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// Another target took over mid-stream.
    Restart {
        model: String,
        provider: String,
        reason: String,
    },
    /// The complete response, with usage.
    Final { response: Response },
}

/// One usage event, delivered once to `onUsage`: one per attempt when it ends (`level:
/// 'attempt'`, `parentId` = the call's id), then one for the call (`level: 'call'`).
#[napi(object)]
pub struct UsageEvent {
    pub request_id: String,
    /// For an attempt: its call's id; for a call: the fusion it belongs to.
    pub parent_id: Option<String>,
    #[napi(ts_type = "'attempt' | 'call' | 'fusion'")]
    pub level: String,
    /// When the call or attempt started (milliseconds since the Unix epoch).
    pub started_at_ms: f64,
    /// An attempt's number within its call.
    pub attempt: Option<u32>,
    /// An attempt started as a hedge's backup.
    pub hedge: bool,
    /// An attempt on a fallback target; a call answered by one.
    pub fallback: bool,
    /// The error's message, when the outcome is an error.
    pub error_message: Option<String>,
    /// The call's `metadata`.
    #[napi(ts_type = "Record<string, unknown>")]
    pub metadata: Value,
    pub route: Option<String>,
    /// The model requested.
    pub model: String,
    /// The provider that answered (or the last one tried).
    pub provider: String,
    #[napi(ts_type = "'ok' | 'error' | 'cancelled'")]
    pub outcome: String,
    #[napi(ts_type = "ErrorKind")]
    pub error_kind: Option<String>,
    pub streamed: bool,
    /// Summed over every attempt.
    pub usage: Usage,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub attempts: Vec<Attempt>,
    /// The call's `tags`.
    #[napi(ts_type = "Record<string, unknown>")]
    pub tags: Value,
}

/// A target's circuit-breaker state, as `client.health()` reports it.
#[napi(object)]
pub struct TargetHealth {
    /// `provider/model`.
    pub target: String,
    #[napi(ts_type = "'closed' | 'open' | 'half_open'")]
    pub state: String,
    pub consecutive_failures: u32,
    /// Milliseconds until an open breaker lets a probe through.
    pub retry_in_ms: Option<f64>,
}

pub(crate) fn health_to_js(h: core::TargetHealth) -> TargetHealth {
    TargetHealth {
        target: h.target,
        state: h.state.to_string(),
        consecutive_failures: h.consecutive_failures,
        retry_in_ms: h.retry_in_ms.map(|ms| ms as f64),
    }
}

fn outcome_str(o: core::Outcome) -> &'static str {
    match o {
        core::Outcome::Ok => "ok",
        core::Outcome::Error => "error",
        core::Outcome::Cancelled => "cancelled",
    }
}

pub(crate) fn usage_to_js(u: &core::Usage) -> Usage {
    Usage {
        input_tokens: u.input_tokens as i64,
        output_tokens: u.output_tokens as i64,
        cached_input_tokens: u.cached_input_tokens as i64,
        cache_write_tokens: u.cache_write_tokens as i64,
        reasoning_tokens: u.reasoning_tokens as i64,
        cost_usd: u.cost_usd,
        total_tokens: u.total_tokens() as i64,
        source: u.source.as_str().to_string(),
    }
}

pub(crate) fn attempt_to_js(a: &core::Attempt) -> Attempt {
    Attempt {
        model: a.model.clone(),
        provider: a.provider.clone(),
        outcome: outcome_str(a.outcome).to_string(),
        error_kind: a.error_kind.map(|k| k.as_str().to_string()),
        error_message: a.error_message.clone(),
        status: a.status.map(u32::from),
        latency_ms: a.latency_ms,
        ttft_ms: a.ttft_ms,
        usage: usage_to_js(&a.usage),
        number: a.number,
        hedge: a.hedge,
        fallback: a.fallback,
    }
}

pub(crate) fn response_to_js(r: core::Response) -> Response {
    let openai = r.to_openai();
    let tool_calls = r
        .message
        .tool_calls
        .iter()
        .map(|tc| ToolCall {
            id: tc.id.clone(),
            name: tc.function.name.clone(),
            arguments: tc.function.arguments.clone(),
            parsed_arguments: tc.function.parsed_arguments().unwrap_or(Value::Null),
        })
        .collect();
    Response {
        message: serde_json::to_value(&r.message).unwrap_or(Value::Null),
        id: r.id,
        provider_response_id: r.provider_response_id,
        text: r.text,
        finish_reason: r.finish_reason.as_str().to_string(),
        usage: usage_to_js(&r.usage),
        model: r.model,
        provider: r.provider,
        provider_model: r.provider_model,
        route: r.route,
        latency_ms: r.latency_ms,
        ttft_ms: r.ttft_ms,
        attempts: r.attempts.iter().map(attempt_to_js).collect(),
        raw: r.raw,
        reasoning: r.reasoning,
        tool_calls,
        openai,
        fusion: r.fusion.as_deref().map(crate::fusion::result_to_js),
    }
}

pub(crate) fn event_to_js(e: core::StreamEvent) -> StreamEvent {
    match e {
        core::StreamEvent::TextDelta { text } => StreamEvent::TextDelta { text },
        core::StreamEvent::ReasoningDelta { text } => StreamEvent::ReasoningDelta { text },
        core::StreamEvent::ToolCallDelta {
            index,
            id,
            name,
            arguments,
        } => StreamEvent::ToolCallDelta {
            index,
            id,
            name,
            arguments,
        },
        core::StreamEvent::Restart {
            model,
            provider,
            reason,
        } => StreamEvent::Restart {
            model,
            provider,
            reason,
        },
        core::StreamEvent::Final { response } => StreamEvent::Final {
            response: response_to_js(*response),
        },
    }
}

pub(crate) fn usage_event_to_js(e: &core::UsageEvent) -> UsageEvent {
    UsageEvent {
        request_id: e.request_id.clone(),
        parent_id: e.parent_id.clone(),
        level: match e.level {
            core::Level::Attempt => "attempt",
            core::Level::Call => "call",
            core::Level::Fusion => "fusion",
        }
        .to_string(),
        started_at_ms: e.started_at_ms as f64,
        attempt: e.attempt,
        hedge: e.hedge,
        fallback: e.fallback,
        error_message: e.error_message.clone(),
        metadata: Value::Object(e.metadata.clone()),
        route: e.route.clone(),
        model: e.model.clone(),
        provider: e.provider.clone(),
        outcome: outcome_str(e.outcome).to_string(),
        error_kind: e.error_kind.map(|k| k.as_str().to_string()),
        streamed: e.streamed,
        usage: usage_to_js(&e.usage),
        latency_ms: e.latency_ms,
        ttft_ms: e.ttft_ms,
        attempts: e.attempts.iter().map(attempt_to_js).collect(),
        tags: Value::Object(e.tags.clone()),
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments: JS → core
// ---------------------------------------------------------------------------------------------

/// A call's options, split: the core request, and the `signal` when one was given.
pub(crate) struct CallArgs {
    pub request: core::Request,
    pub signal: Option<Signal>,
}

pub(crate) use crate::signal::Signal;

fn invalid(message: String) -> core::Error {
    core::Error::invalid_request(message)
}

/// Converts `{ model, messages | prompt, signal, ...params }` (the object
/// [`options::call_object`] checked). Errors are core errors (kind `invalid_request`) naming the
/// argument that was wrong; `undefined` values count as absent.
pub(crate) fn call_args(env: &Env, options: Object) -> std::result::Result<CallArgs, core::Error> {
    let keys = Object::keys(&options).map_err(|e| invalid(format!("options: {}", e.reason)))?;
    let mut model: Option<String> = None;
    let mut input = Value::Null;
    let mut signal = None;
    let mut params = Map::new();
    let mut saw_input: Option<&'static str> = None;
    for key in keys {
        let value: Unknown = options
            .get_named_property(&key)
            .map_err(|e| invalid(format!("option `{key}`: {}", e.reason)))?;
        let ty = value
            .get_type()
            .map_err(|e| invalid(format!("option `{key}`: {}", e.reason)))?;
        if ty == ValueType::Undefined {
            continue;
        }
        match key.as_str() {
            "model" => {
                if ty != ValueType::String {
                    return Err(invalid(format!(
                        "option `model`: expected a string `provider/model`, got {}",
                        type_name(ty)
                    )));
                }
                model = Some(
                    unsafe { String::from_napi_value(env.raw(), value.raw()) }
                        .map_err(|e| invalid(e.reason))?,
                );
            }
            "messages" | "prompt" => {
                if let Some(other) = saw_input {
                    return Err(invalid(format!(
                        "options `{other}` and `{key}`: pass one of them, not both"
                    )));
                }
                saw_input = Some(if key == "messages" {
                    "messages"
                } else {
                    "prompt"
                });
                input = json(env, value, &key)?;
            }
            "signal" => {
                signal = Signal::read(env, Some(value), "option `signal`")?;
            }
            _ => {
                options::check_call_key(&key)?;
                // The core accepts camelCase and snake_case names and rejects unknown ones.
                let v = json(env, value, &key)?;
                params.insert(key, v);
            }
        }
    }
    let Some(model) = model else {
        return Err(invalid(
            "option `model` is missing: pass `{ model: 'provider/model' (e.g. 'mock/echo'), messages | prompt }`"
                .to_string(),
        ));
    };
    if saw_input.is_none() {
        return Err(invalid(format!(
            "call on `{model}`: pass `messages` (a list of chat messages) or `prompt` (a string)"
        )));
    }
    let request = core::Request::from_values(&model, input, Value::Object(params))?;
    Ok(CallArgs { request, signal })
}

pub(crate) fn json(
    env: &Env,
    value: Unknown,
    key: &str,
) -> std::result::Result<Value, core::Error> {
    crate::json::to_value(env, value, &format!("option `{key}`")).map_err(invalid)
}

/// The `config` option: `undefined` (defaults and environment), a path to a `.json` / `.toml`
/// file, or the document as an object (snake_case keys, as in every language).
pub(crate) fn config(
    env: &Env,
    value: Option<Unknown>,
) -> std::result::Result<core::Config, core::Error> {
    let Some(value) = value else {
        return Ok(core::Config::default());
    };
    let ty = value
        .get_type()
        .map_err(|e| core::Error::config(format!("config: {}", e.reason)))?;
    match ty {
        ValueType::Undefined | ValueType::Null => Ok(core::Config::default()),
        ValueType::String => {
            let path = unsafe { String::from_napi_value(env.raw(), value.raw()) }
                .map_err(|e| core::Error::config(format!("config: {}", e.reason)))?;
            core::Config::from_file(path)
        }
        _ => {
            let doc = crate::json::to_value(env, value, "config").map_err(core::Error::config)?;
            core::Config::from_value(doc)
        }
    }
}

/// The `onUsage` option: a function, or absent.
pub(crate) fn on_usage<'a>(
    env: &Env,
    value: Option<Unknown<'a>>,
) -> std::result::Result<Option<Function<'a, UsageEvent, Unknown<'static>>>, core::Error> {
    let Some(value) = value else { return Ok(None) };
    let ty = value
        .get_type()
        .map_err(|e| core::Error::config(format!("option `onUsage`: {}", e.reason)))?;
    match ty {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Function => unsafe { Function::from_napi_value(env.raw(), value.raw()) }
            .map(Some)
            .map_err(|e| core::Error::config(format!("option `onUsage`: {}", e.reason))),
        other => Err(core::Error::config(format!(
            "option `onUsage`: expected a function, got {}",
            type_name(other)
        ))),
    }
}
