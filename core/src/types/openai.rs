//! The OpenAI Chat Completions shapes polyfuse produces and reads, so code written for the official
//! SDKs (openai-python, openai-node) moves over by changing one line:
//! - [`ChatCompletionCall::from_value`]: a `chat.completions.create(...)` argument object → a core
//!   [`Request`] (plus `stream` / `stream_options`), every unknown or unsupported name named;
//! - [`chat_completion`]: a [`Response`] → a `chat.completion` object;
//! - [`ChunkView`]: stream events → `chat.completion.chunk` objects (the role chunk, content,
//!   reasoning and tool-call deltas, the finish chunk, the usage chunk when asked), and
//!   [`chunk_stream`], the whole stream so converted.
//!
//! Both bindings' drop-ins only convert these values to their language's objects.
use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::types::error::{Error, Result};
use crate::types::request::{json_type, Request};
use crate::types::response::Response;
use crate::types::stream::{map_stream, EventStream, StreamEvent, ValueStream};
use crate::usage::Usage;

/// What `create()` was asked for: the core request, whether to stream, and whether the stream
/// ends with a usage chunk (`stream_options.include_usage`).
#[derive(Clone, Debug, PartialEq)]
pub struct ChatCompletionCall {
    pub request: Request,
    pub stream: bool,
    pub include_usage: bool,
}

/// How `create()` treats each name it accepts.
enum Arg {
    /// A polyfuse parameter of the same name and meaning (`Params`).
    Param,
    /// An OpenAI-only parameter, sent to the provider unchanged (`extra`).
    Extra,
    /// Read by `create()` itself.
    Own,
}

/// The names `create()` accepts besides `model` and `messages`.
const ARGS: &[(&str, Arg)] = &[
    ("stream", Arg::Own),
    ("stream_options", Arg::Own),
    ("n", Arg::Own),
    ("max_tokens", Arg::Own),
    ("max_completion_tokens", Arg::Own),
    ("timeout", Arg::Own),
    ("extra_body", Arg::Own),
    ("temperature", Arg::Param),
    ("top_p", Arg::Param),
    ("stop", Arg::Param),
    ("seed", Arg::Param),
    ("tools", Arg::Param),
    ("tool_choice", Arg::Param),
    ("parallel_tool_calls", Arg::Param),
    ("response_format", Arg::Param),
    ("reasoning_effort", Arg::Param),
    ("user", Arg::Param),
    ("metadata", Arg::Param),
    // polyfuse's own, in both spellings (the drop-in's names are snake_case, Node's camelCase)
    ("tags", Arg::Param),
    ("extra", Arg::Param),
    ("timeout_ms", Arg::Param),
    ("timeoutMs", Arg::Param),
    ("first_token_timeout_ms", Arg::Param),
    ("firstTokenTimeoutMs", Arg::Param),
    ("stream_idle_timeout_ms", Arg::Param),
    ("streamIdleTimeoutMs", Arg::Param),
    ("attempt_timeout_ms", Arg::Param),
    ("attemptTimeoutMs", Arg::Param),
    // OpenAI's own sampling and service options: the provider gets them as sent
    ("frequency_penalty", Arg::Extra),
    ("presence_penalty", Arg::Extra),
    ("logit_bias", Arg::Extra),
    ("logprobs", Arg::Extra),
    ("top_logprobs", Arg::Extra),
    ("service_tier", Arg::Extra),
    ("store", Arg::Extra),
    ("prediction", Arg::Extra),
    ("modalities", Arg::Extra),
    ("audio", Arg::Extra),
    ("web_search_options", Arg::Extra),
    ("prompt_cache_key", Arg::Extra),
    ("prompt_cache_retention", Arg::Extra),
    ("safety_identifier", Arg::Extra),
    ("verbosity", Arg::Extra),
];

/// Names of the official SDKs that polyfuse does not take, with what to do instead.
const REFUSED: &[(&str, &str)] = &[
    (
        "functions",
        "the deprecated `functions` API is not supported: pass `tools` instead",
    ),
    (
        "function_call",
        "the deprecated `function_call` is not supported: pass `tool_choice` instead",
    ),
    (
        "extra_headers",
        "per-call HTTP headers are not supported: set `headers` on the provider in the config",
    ),
    (
        "extra_query",
        "per-call query parameters are not supported: set `query` on the provider in the config",
    ),
];

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_request(message)
}

const CREATE: &str = "chat.completions.create";

impl ChatCompletionCall {
    /// Reads the argument object of `chat.completions.create` (snake_case names, as the official
    /// SDKs take them; `null` counts as absent). `n` above 1 and the names in `REFUSED` are
    /// rejected, and so is any unknown name, each named in the error.
    pub fn from_value(args: Value) -> Result<ChatCompletionCall> {
        let Value::Object(args) = args else {
            return Err(invalid(format!(
                "{CREATE}(): expected an object of arguments (`model`, `messages`, ...), got {}",
                json_type(&args)
            )));
        };
        let mut model = None;
        let mut messages = None;
        let mut stream = false;
        let mut stream_options = None;
        let mut max_tokens: Option<(&'static str, Value)> = None;
        let mut params = Map::new();
        let mut extra = Map::new();
        let mut explicit_extra = None;
        for (key, value) in args {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "model" => match value {
                    Value::String(m) => model = Some(m),
                    other => {
                        return Err(invalid(format!(
                            "{CREATE}: argument `model`: expected a string `provider/model` or a route name, got {}",
                            json_type(&other)
                        )))
                    }
                },
                "messages" => messages = Some(input_messages(value)?),
                _ => {
                    let Some((name, arg)) = ARGS.iter().find(|(name, _)| *name == key) else {
                        return Err(match REFUSED.iter().find(|(name, _)| *name == key) {
                            Some((name, why)) => invalid(format!("{CREATE}: argument `{name}`: {why}")),
                            None => invalid(format!(
                                "{CREATE}: unknown argument `{key}` (polyfuse takes the OpenAI Chat Completions arguments and its own `tags`, `metadata`, `extra` and `*_timeout_ms`)"
                            )),
                        });
                    };
                    match arg {
                        Arg::Param => {
                            params.insert(key, value);
                        }
                        Arg::Extra => {
                            extra.insert(key, value);
                        }
                        Arg::Own => match *name {
                            "stream" => {
                                stream = value.as_bool().ok_or_else(|| {
                                    invalid(format!(
                                        "{CREATE}: argument `stream`: expected a boolean, got {}",
                                        json_type(&value)
                                    ))
                                })?
                            }
                            "stream_options" => stream_options = Some(value),
                            "n" => check_n(&value)?,
                            "max_tokens" | "max_completion_tokens" => {
                                if let Some((other, _)) = &max_tokens {
                                    return Err(invalid(format!(
                                        "{CREATE}: arguments `{other}` and `{name}`: pass one of them (`max_completion_tokens`; `max_tokens` is its older name)"
                                    )));
                                }
                                max_tokens = Some((name, value));
                            }
                            "timeout" => {
                                params.insert("timeout_ms".into(), timeout_ms(&value)?);
                            }
                            _ => explicit_extra = Some(value), // extra_body
                        },
                    }
                }
            }
        }
        let Some(model) = model else {
            return Err(invalid(format!(
                "{CREATE}: argument `model` is missing (`provider/model`, e.g. `openai/gpt-4o-mini`, or a route name)"
            )));
        };
        let Some(messages) = messages else {
            return Err(invalid(format!(
                "{CREATE}: argument `messages` is missing (a list of chat messages)"
            )));
        };
        let include_usage = match stream_options {
            None => false,
            Some(_) if !stream => {
                return Err(invalid(format!(
                    "{CREATE}: argument `stream_options` is only allowed with `stream: true`"
                )))
            }
            Some(options) => include_usage(options)?,
        };
        if let Some((name, value)) = max_tokens {
            params.insert(name.to_string(), value);
        }
        if let Some(body) = explicit_extra {
            let Value::Object(body) = body else {
                return Err(invalid(format!(
                    "{CREATE}: argument `extra_body`: expected an object, got {}",
                    json_type(&body)
                )));
            };
            extra.extend(body);
        }
        if !extra.is_empty() {
            match params.get_mut("extra") {
                Some(Value::Object(own)) => {
                    for (k, v) in extra {
                        own.entry(k).or_insert(v);
                    }
                }
                Some(_) => {} // not an object: the core's check names it
                None => {
                    params.insert("extra".into(), Value::Object(extra));
                }
            }
        }
        let request = Request::from_values(&model, messages, Value::Object(params))
            .map_err(|e| invalid(format!("{CREATE}: {}", e.message)))?;
        Ok(ChatCompletionCall {
            request,
            stream,
            include_usage,
        })
    }
}

fn check_n(value: &Value) -> Result<()> {
    match value.as_u64() {
        Some(1) => Ok(()),
        Some(n) if n > 1 => Err(invalid(format!(
            "{CREATE}: argument `n` = {n}: polyfuse returns one choice per call; make {n} calls (or use a fusion) instead"
        ))),
        _ => Err(invalid(format!(
            "{CREATE}: argument `n`: expected 1, got {value}"
        ))),
    }
}

fn timeout_ms(value: &Value) -> Result<Value> {
    match value.as_f64() {
        Some(s) if s.is_finite() && s > 0.0 => Ok(Value::from((s * 1000.0).ceil() as u64)),
        _ => Err(invalid(format!(
            "{CREATE}: argument `timeout`: expected a positive number of seconds, got {value}"
        ))),
    }
}

fn include_usage(options: Value) -> Result<bool> {
    let Value::Object(options) = options else {
        return Err(invalid(format!(
            "{CREATE}: argument `stream_options`: expected an object like {{\"include_usage\": true}}, got {}",
            json_type(&options)
        )));
    };
    let mut include = false;
    for (key, value) in options {
        match (key.as_str(), &value) {
            (_, Value::Null) => {}
            ("include_usage", Value::Bool(b)) => include = *b,
            ("include_obfuscation", Value::Bool(_)) => {} // polyfuse's stream is not obfuscated
            ("include_usage" | "include_obfuscation", other) => {
                return Err(invalid(format!(
                    "{CREATE}: argument `stream_options.{key}`: expected a boolean, got {}",
                    json_type(other)
                )))
            }
            _ => {
                return Err(invalid(format!(
                    "{CREATE}: unknown argument `stream_options.{key}` (polyfuse reads `include_usage`)"
                )))
            }
        }
    }
    Ok(include)
}

/// The messages as the core reads them. Messages given back as the SDKs return them (the
/// assistant message of a `chat.completion`, dumped) carry output-only keys: `null`s,
/// `annotations`, `reasoning_content` (polyfuse's own), and `audio` / `function_call` when null;
/// they are dropped. Other mistakes are the core's to name.
fn input_messages(value: Value) -> Result<Value> {
    let Value::Array(items) = value else {
        return Err(invalid(format!(
            "{CREATE}: argument `messages`: expected a list of messages, got {}",
            json_type(&value)
        )));
    };
    let items = items
        .into_iter()
        .map(|item| match item {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(k, v)| {
                        !(v.is_null() || k == "annotations" || k == "reasoning_content")
                    })
                    .collect(),
            ),
            other => other,
        })
        .collect();
    Ok(Value::Array(items))
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `usage` of a `chat.completion` (and of the usage chunk).
fn openai_usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens(),
        "prompt_tokens_details": {
            "cached_tokens": u.cached_input_tokens,
            "cache_write_tokens": u.cache_write_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

/// The response as an OpenAI `chat.completion` object. `choices[0].message` is the assistant
/// message (`content`, `refusal`, `tool_calls`; `reasoning_content` when the model's reasoning is
/// known, as DeepSeek's API sends it); `model` is the model the provider reported.
pub fn chat_completion(r: &Response) -> Value {
    let mut message = serde_json::to_value(&r.message).unwrap_or(Value::Null);
    if let Some(m) = message.as_object_mut() {
        m.entry("content").or_insert(Value::Null);
        m.entry("refusal").or_insert(Value::Null);
        if let Some(reasoning) = &r.reasoning {
            m.insert("reasoning_content".into(), Value::from(reasoning.as_str()));
        }
    }
    json!({
        "id": r.provider_response_id.clone().unwrap_or_else(|| r.id.clone()),
        "object": "chat.completion",
        "created": now_s(),
        "model": r.provider_model.clone().unwrap_or_else(|| r.model.clone()),
        "system_fingerprint": null,
        "service_tier": null,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": r.finish_reason.as_str(),
        }],
        "usage": openai_usage(&r.usage),
    })
}

/// Turns stream events into `chat.completion.chunk` objects, as OpenAI streams them: every chunk
/// has the same `id`, `created` and `model` (the model requested); a role chunk comes first; text
/// is `delta.content`, reasoning `delta.reasoning_content`; a tool call's first piece carries its
/// `index`, `id`, `type` and name, later pieces `index` and arguments; the `final` event gives the
/// finish chunk, then (with `include_usage`, when every chunk also has `"usage": null`) a chunk
/// with no choices and the usage. An answer that arrived whole (no deltas) is sent as one content
/// chunk. A `restart` (another target took over mid-stream) is a chunk with an empty delta and a
/// `polyfuse.restart` object: what was shown before it is to be discarded.
#[derive(Debug)]
pub struct ChunkView {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    sent_text: bool,
    /// Indexes of the tool calls whose first piece was sent.
    sent_tools: BTreeSet<u32>,
}

impl ChunkView {
    pub fn new(call: &ChatCompletionCall) -> ChunkView {
        ChunkView {
            id: format!("chatcmpl-pf{:016x}", fastrand::u64(..)),
            model: call.request.model.clone(),
            created: now_s(),
            include_usage: call.include_usage,
            started: false,
            sent_text: false,
            sent_tools: BTreeSet::new(),
        }
    }

    fn chunk(&self, choices: Value) -> Value {
        let mut c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "service_tier": null,
            "choices": choices,
        });
        if self.include_usage {
            c["usage"] = Value::Null;
        }
        c
    }

    fn delta(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        self.chunk(json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason,
        }]))
    }

    fn tool_piece(
        &mut self,
        index: u32,
        id: Option<&str>,
        name: Option<&str>,
        arguments: &str,
    ) -> Value {
        let piece = if self.sent_tools.insert(index) {
            json!({
                "index": index,
                "id": id.unwrap_or_default(),
                "type": "function",
                "function": {"name": name.unwrap_or_default(), "arguments": arguments},
            })
        } else {
            json!({"index": index, "function": {"arguments": arguments}})
        };
        self.delta(json!({"tool_calls": [piece]}), None)
    }

    /// The chunks for one event (none, one, or several).
    pub fn chunks(&mut self, event: StreamEvent) -> Vec<Value> {
        let mut out = Vec::with_capacity(2);
        if !self.started {
            self.started = true;
            out.push(self.delta(
                json!({"role": "assistant", "content": "", "refusal": null}),
                None,
            ));
        }
        match event {
            StreamEvent::TextDelta { text } => {
                self.sent_text = true;
                out.push(self.delta(json!({"content": text}), None));
            }
            StreamEvent::ReasoningDelta { text } => {
                out.push(self.delta(json!({"reasoning_content": text}), None));
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                let piece = self.tool_piece(index, id.as_deref(), name.as_deref(), &arguments);
                out.push(piece);
            }
            StreamEvent::Restart {
                model,
                provider,
                reason,
            } => {
                self.sent_text = false;
                self.sent_tools.clear();
                let mut c = self.delta(json!({}), None);
                c["polyfuse"] =
                    json!({"restart": {"model": model, "provider": provider, "reason": reason}});
                out.push(c);
            }
            StreamEvent::Final { response } => {
                if !self.sent_text && !response.text.is_empty() {
                    out.push(self.delta(json!({"content": response.text}), None));
                }
                for (index, call) in response.message.tool_calls.iter().enumerate() {
                    let index = index as u32;
                    if !self.sent_tools.contains(&index) {
                        let piece = self.tool_piece(
                            index,
                            Some(&call.id),
                            Some(&call.function.name),
                            &call.function.arguments,
                        );
                        out.push(piece);
                    }
                }
                out.push(self.delta(json!({}), Some(response.finish_reason.as_str())));
                if self.include_usage {
                    let mut c = self.chunk(json!([]));
                    c["usage"] = openai_usage(&response.usage);
                    out.push(c);
                }
            }
        }
        out
    }
}

/// A streamed call's events as `chat.completion.chunk` objects (see [`ChunkView`]); an error
/// ends it as it ends the event stream.
pub fn chunk_stream(events: EventStream, call: &ChatCompletionCall) -> ValueStream {
    let mut view = ChunkView::new(call);
    map_stream(events, move |event| view.chunks(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::message::{FunctionCall, Message, Role, ToolCall};
    use crate::types::response::FinishReason;
    use crate::usage::UsageSource;

    fn call(args: Value) -> ChatCompletionCall {
        ChatCompletionCall::from_value(args).unwrap()
    }

    fn error(args: Value) -> String {
        ChatCompletionCall::from_value(args).unwrap_err().message
    }

    fn hi() -> Value {
        json!([{"role": "user", "content": "hi"}])
    }

    #[test]
    fn arguments_map_to_the_request() {
        let c = call(json!({
            "model": "openai/gpt-4o-mini", "messages": hi(), "stream": true,
            "stream_options": {"include_usage": true}, "temperature": 0.5,
            "max_completion_tokens": 9, "seed": 3, "stop": ["x"], "n": 1, "user": "u1",
            "response_format": {"type": "json_object"}, "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "auto", "frequency_penalty": 0.1, "extra_body": {"top_k": 5},
            "timeout": 1.5, "tags": {"team": "a"}, "metadata": {"k": "v"}, "logprobs": null,
        }));
        assert!(c.stream && c.include_usage);
        let p = &c.request.params;
        assert_eq!(p.temperature, Some(0.5));
        assert_eq!(p.max_tokens, Some(9));
        assert_eq!(p.seed, Some(3));
        assert_eq!(p.timeout_ms, Some(1500));
        assert_eq!(p.user.as_deref(), Some("u1"));
        assert_eq!(p.tags.as_ref().unwrap()["team"], "a");
        assert_eq!(p.metadata.as_ref().unwrap()["k"], "v");
        let extra = p.extra.as_ref().unwrap();
        assert_eq!(extra["frequency_penalty"], 0.1);
        assert_eq!(extra["top_k"], 5);
        assert!(!extra.contains_key("logprobs"), "null is absent");
    }

    #[test]
    fn mistakes_are_named() {
        let e = error(json!({"model": "m/x", "messages": hi(), "n": 2}));
        assert!(e.contains("`n` = 2") && e.contains("one choice"), "{e}");
        let e = error(json!({"model": "m/x", "messages": hi(), "temprature": 1}));
        assert!(e.contains("unknown argument `temprature`"), "{e}");
        let e = error(json!({"model": "m/x", "messages": hi(), "functions": []}));
        assert!(e.contains("`functions`") && e.contains("tools"), "{e}");
        let e = error(
            json!({"model": "m/x", "messages": hi(), "stream_options": {"include_usage": true}}),
        );
        assert!(e.contains("only allowed with `stream: true`"), "{e}");
        let e = error(
            json!({"model": "m/x", "messages": hi(), "stream": true, "stream_options": {"usage": true}}),
        );
        assert!(e.contains("`stream_options.usage`"), "{e}");
        let e = error(
            json!({"model": "m/x", "messages": hi(), "max_tokens": 1, "max_completion_tokens": 2}),
        );
        assert!(
            e.contains("`max_tokens` and `max_completion_tokens`")
                || e.contains("`max_completion_tokens` and `max_tokens`"),
            "{e}"
        );
        let e = error(json!({"messages": hi()}));
        assert!(e.contains("`model` is missing"), "{e}");
        let e = error(json!({"model": "m/x", "messages": [{"role": "robot", "content": "x"}]}));
        assert!(e.contains("messages") && e.contains("robot"), "{e}");
        let e = error(json!({"model": "m/x", "messages": hi(), "temperature": "hot"}));
        assert!(e.contains("temperature"), "{e}");
        let e = error(json!(["m/x"]));
        assert!(e.contains("expected an object"), "{e}");
    }

    #[test]
    fn a_dumped_assistant_message_is_read_back() {
        let c = call(json!({"model": "m/x", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "refusal": null, "annotations": [], "audio": null,
             "function_call": null, "reasoning_content": "thinking",
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]}));
        assert_eq!(c.request.messages[1].tool_calls[0].id, "call_1");
        assert_eq!(
            c.request.messages[2].tool_call_id.as_deref(),
            Some("call_1")
        );
    }

    fn response() -> Response {
        Response {
            id: "pf-1".into(),
            provider_response_id: Some("chatcmpl-9".into()),
            text: "Hello".into(),
            message: Message::new(Role::Assistant, "Hello"),
            finish_reason: FinishReason::Stop,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 4,
                cached_input_tokens: 2,
                reasoning_tokens: 1,
                source: UsageSource::Reported,
                ..Usage::default()
            },
            model: "openai/gpt-4o-mini".into(),
            provider: "openai".into(),
            provider_model: Some("gpt-4o-mini-2024-07-18".into()),
            route: None,
            latency_ms: 1.0,
            ttft_ms: None,
            attempts: vec![],
            reasoning: None,
            raw: None,
            fusion: None,
        }
    }

    #[test]
    fn completion_shape() {
        let v = chat_completion(&response());
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["id"], "chatcmpl-9");
        assert_eq!(v["model"], "gpt-4o-mini-2024-07-18");
        assert_eq!(v["choices"][0]["message"]["content"], "Hello");
        assert_eq!(v["choices"][0]["message"]["refusal"], Value::Null);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["total_tokens"], 14);
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
        assert_eq!(
            v["usage"]["completion_tokens_details"]["reasoning_tokens"],
            1
        );
    }

    fn run(view: &mut ChunkView, events: Vec<StreamEvent>) -> Vec<Value> {
        events.into_iter().flat_map(|e| view.chunks(e)).collect()
    }

    #[test]
    fn chunks_of_text_and_tool_calls() {
        let c = call(
            json!({"model": "m/x", "messages": hi(), "stream": true, "stream_options": {"include_usage": true}}),
        );
        let mut view = ChunkView::new(&c);
        let mut r = response();
        r.message.tool_calls = vec![ToolCall {
            id: "call_1".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "w".into(),
                arguments: "{\"a\":1}".into(),
            },
        }];
        r.finish_reason = FinishReason::ToolCalls;
        let chunks = run(
            &mut view,
            vec![
                StreamEvent::TextDelta { text: "Hel".into() },
                StreamEvent::TextDelta { text: "lo".into() },
                StreamEvent::ToolCallDelta {
                    index: 0,
                    id: Some("call_1".into()),
                    name: Some("w".into()),
                    arguments: "{\"a\"".into(),
                },
                StreamEvent::ToolCallDelta {
                    index: 0,
                    id: None,
                    name: None,
                    arguments: ":1}".into(),
                },
                StreamEvent::Final {
                    response: Box::new(r),
                },
            ],
        );
        let ids: BTreeSet<_> = chunks.iter().map(|c| c["id"].to_string()).collect();
        assert_eq!(ids.len(), 1, "one id for the whole stream");
        assert!(chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "m/x"));
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hel");
        let first = &chunks[3]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(
            (&first["index"], &first["id"], &first["function"]["name"]),
            (&json!(0), &json!("call_1"), &json!("w"))
        );
        let later = &chunks[4]["choices"][0]["delta"]["tool_calls"][0];
        assert!(later.get("id").is_none() && later["function"]["arguments"] == ":1}");
        assert_eq!(chunks[5]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(chunks[5]["usage"], Value::Null);
        assert_eq!(chunks[6]["choices"], json!([]));
        assert_eq!(chunks[6]["usage"]["prompt_tokens"], 10);
        assert_eq!(chunks.len(), 7);
    }

    #[test]
    fn a_whole_answer_is_one_content_chunk_and_no_usage_unless_asked() {
        let c = call(json!({"model": "m/x", "messages": hi(), "stream": true}));
        let mut view = ChunkView::new(&c);
        let chunks = run(
            &mut view,
            vec![StreamEvent::Final {
                response: Box::new(response()),
            }],
        );
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hello");
        assert_eq!(chunks[2]["choices"][0]["finish_reason"], "stop");
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    }

    #[test]
    fn a_restart_is_marked() {
        let c = call(json!({"model": "m/x", "messages": hi(), "stream": true}));
        let mut view = ChunkView::new(&c);
        let chunks = run(
            &mut view,
            vec![
                StreamEvent::TextDelta { text: "Hel".into() },
                StreamEvent::Restart {
                    model: "b/y".into(),
                    provider: "b".into(),
                    reason: "stalled".into(),
                },
            ],
        );
        assert_eq!(chunks[2]["choices"][0]["delta"], json!({}));
        assert_eq!(chunks[2]["polyfuse"]["restart"]["model"], "b/y");
    }
}
