//! The Vercel AI SDK's language-model shapes, specification v3 (`LanguageModelV3` of
//! `@ai-sdk/provider` 3: what `ai` 6 calls, and what `ai` 7 adapts to its v4), for the provider in
//! `ai-sdk.cjs`:
//! - [`LanguageModelCall::from_value`]: `doGenerate` / `doStream` call options → a core
//!   [`Request`] and the warnings for settings polyfuse does not apply;
//! - [`generate_result`]: a [`Response`] → the result of `doGenerate` (content, finish reason,
//!   usage with cached and reasoning tokens, provider metadata with polyfuse's attempts);
//! - [`PartView`] / [`part_stream`]: stream events → `doStream`'s stream parts.
//!
//! JSON in and out, camelCase as the specification spells it. The JS side only turns what JSON
//! cannot hold into JSON and back: file data (bytes → base64, `URL` → its string), the abort
//! signal (kept in JS), and timestamps (epoch milliseconds here, `Date`s there).
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::types::error::{Error, Result};
use crate::types::message::FunctionCall;
use crate::types::request::{json_type, Request};
use crate::types::response::{FinishReason, Response};
use crate::types::stream::{map_stream, EventStream, StreamEvent, ValueStream};
use crate::usage::{Usage, UsageSource};

/// One `doGenerate` / `doStream` call: the core request, and the call's warnings (settings that
/// polyfuse does not apply, as `{type: 'unsupported', feature, details}`).
#[derive(Clone, Debug, PartialEq)]
pub struct LanguageModelCall {
    pub request: Request,
    pub warnings: Vec<Value>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_request(format!("polyfuse (AI SDK provider): {}", message.into()))
}

fn unsupported(feature: &str, details: &str) -> Value {
    json!({"type": "unsupported", "feature": feature, "details": details})
}

/// Call options that polyfuse does not apply (a warning each, when set).
const UNSUPPORTED: &[(&str, &str)] = &[
    ("topK", "polyfuse does not send top-k sampling"),
    ("presencePenalty", "polyfuse does not send a presence penalty (use providerOptions.polyfuse.extra for OpenAI-compatible providers)"),
    ("frequencyPenalty", "polyfuse does not send a frequency penalty (use providerOptions.polyfuse.extra for OpenAI-compatible providers)"),
];

impl LanguageModelCall {
    /// Reads the call options (JSON) of a call on `model` (a `provider/model`, a route name or a
    /// `fusion/<name>`). `providerOptions.polyfuse` takes polyfuse's parameters (`tags`,
    /// `metadata`, `timeoutMs`, `reasoningEffort`, `extra`, ...); other providers' options are
    /// theirs. Options this version does not know are ignored, as the specification asks of a
    /// provider; a prompt polyfuse cannot send is an error naming the part.
    pub fn from_value(model: &str, options: Value) -> Result<LanguageModelCall> {
        let Value::Object(options) = options else {
            return Err(invalid(format!(
                "call options: expected an object, got {}",
                json_type(&options)
            )));
        };
        let mut warnings = Vec::new();
        let mut params = Map::new();
        let get = |key: &str| options.get(key).filter(|v| !v.is_null());
        let prompt = get("prompt").ok_or_else(|| invalid("call options: `prompt` is missing"))?;
        let messages = messages(prompt)?;
        for (from, to) in [
            ("maxOutputTokens", "max_tokens"),
            ("temperature", "temperature"),
            ("topP", "top_p"),
            ("stopSequences", "stop"),
            ("seed", "seed"),
        ] {
            if let Some(v) = get(from) {
                params.insert(to.into(), v.clone());
            }
        }
        for (key, details) in UNSUPPORTED {
            if get(key).is_some() {
                warnings.push(unsupported(key, details));
            }
        }
        if get("includeRawChunks").and_then(Value::as_bool) == Some(true) {
            warnings.push(unsupported(
                "includeRawChunks",
                "polyfuse streams normalized events, not the provider's raw chunks",
            ));
        }
        if let Some(Value::Object(headers)) = get("headers") {
            // `ai` sets `user-agent` (`ai/<version>`) on every call: not the caller's header.
            let set =
                |(k, v): (&String, &Value)| !v.is_null() && !k.eq_ignore_ascii_case("user-agent");
            if headers.iter().any(set) {
                warnings.push(unsupported(
                    "headers",
                    "per-call HTTP headers are not sent: set `headers` on the provider in the polyfuse config",
                ));
            }
        }
        if let Some(format) = get("responseFormat") {
            if let Some(f) = response_format(format)? {
                params.insert("response_format".into(), f);
            }
        }
        if let Some(tools) = get("tools") {
            let tools = function_tools(tools, &mut warnings)?;
            if !tools.is_empty() {
                params.insert("tools".into(), Value::Array(tools));
            }
        }
        if let Some(choice) = get("toolChoice") {
            params.insert("tool_choice".into(), tool_choice(choice)?);
        }
        // `reasoning` (ai 7's v4 option, passed through to v3 models): the effort, unless the
        // provider default is asked for.
        if let Some(Value::String(effort)) = get("reasoning") {
            if effort != "provider-default" {
                params.insert("reasoning_effort".into(), Value::from(effort.as_str()));
            }
        }
        if let Some(own) = get("providerOptions").and_then(|p| p.get("polyfuse")) {
            let Value::Object(own) = own else {
                return Err(invalid(format!(
                    "providerOptions.polyfuse: expected an object of polyfuse parameters, got {}",
                    json_type(own)
                )));
            };
            for (k, v) in own {
                params.insert(k.clone(), v.clone());
            }
        }
        let request =
            Request::from_values(model, messages, Value::Object(params)).map_err(|e| {
                invalid(e.message.replace(
                    "parameter `",
                    "parameter (providerOptions.polyfuse or a call setting) `",
                ))
            })?;
        Ok(LanguageModelCall { request, warnings })
    }
}

/// The prompt (v3 messages) as OpenAI-style messages.
fn messages(prompt: &Value) -> Result<Value> {
    let Value::Array(items) = prompt else {
        return Err(invalid(format!(
            "prompt: expected a list of messages, got {}",
            json_type(prompt)
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, m) in items.iter().enumerate() {
        let at = format!("prompt[{i}]");
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = m.get("content").unwrap_or(&Value::Null);
        match role {
            "system" => out.push(json!({"role": "system", "content": text_of(content, &at)?})),
            "user" => out.push(json!({"role": "user", "content": user_content(content, &at)?})),
            "assistant" => out.push(assistant(content, &at)?),
            "tool" => {
                for (j, part) in parts(content, &at)?.iter().enumerate() {
                    if part_type(part) == "tool-result" {
                        out.push(tool_result(part, &format!("{at}.content[{j}]"))?);
                    }
                }
            }
            other => {
                return Err(invalid(format!(
                    "{at}.role: expected system, user, assistant or tool, got {other:?}"
                )))
            }
        }
    }
    Ok(Value::Array(out))
}

fn parts<'a>(content: &'a Value, at: &str) -> Result<&'a Vec<Value>> {
    content.as_array().ok_or_else(|| {
        invalid(format!(
            "{at}.content: expected a list of parts, got {}",
            json_type(content)
        ))
    })
}

fn part_type(part: &Value) -> &str {
    part.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn str_field<'a>(part: &'a Value, key: &str, at: &str) -> Result<&'a str> {
    part.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{at}.{key}: expected a string")))
}

fn text_of(content: &Value, at: &str) -> Result<String> {
    content
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(format!("{at}.content: expected a string")))
}

/// A user message's parts: text, and images (by URL, or base64 data sent as a `data:` URL).
fn user_content(content: &Value, at: &str) -> Result<Value> {
    let parts = parts(content, at)?;
    if let [only] = parts.as_slice() {
        if part_type(only) == "text" {
            return Ok(Value::from(str_field(only, "text", at)?));
        }
    }
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match part_type(part) {
            "text" => out.push(json!({"type": "text", "text": str_field(part, "text", &at)?})),
            "file" => out.push(image(part, &at)?),
            other => {
                return Err(invalid(format!(
                    "{at}: a user message cannot hold a `{other}` part"
                )))
            }
        }
    }
    Ok(Value::Array(out))
}

fn image(part: &Value, at: &str) -> Result<Value> {
    let media = str_field(part, "mediaType", at)?;
    if !media.starts_with("image/") {
        return Err(invalid(format!(
            "{at}: files of media type `{media}` are not supported (polyfuse sends images only)"
        )));
    }
    let data = str_field(part, "data", at)?;
    let url = if ["http://", "https://", "data:"]
        .iter()
        .any(|p| data.starts_with(p))
    {
        data.to_string()
    } else {
        let media = if media == "image/*" {
            "image/jpeg"
        } else {
            media
        };
        format!("data:{media};base64,{data}")
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// An assistant message: its text and tool calls (reasoning parts are not sent back; results of
/// provider-executed tools have no place in a chat message).
fn assistant(content: &Value, at: &str) -> Result<Value> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, part) in parts(content, at)?.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match part_type(part) {
            "text" => text.push_str(str_field(part, "text", &at)?),
            "tool-call" => {
                let input = part.get("input").unwrap_or(&Value::Null);
                let arguments = match input {
                    Value::String(s) => s.clone(),
                    Value::Null => "{}".to_string(),
                    other => other.to_string(),
                };
                calls.push(json!({
                    "id": str_field(part, "toolCallId", &at)?,
                    "type": "function",
                    "function": {"name": str_field(part, "toolName", &at)?, "arguments": arguments},
                }));
            }
            "reasoning" | "tool-result" => {}
            other => {
                return Err(invalid(format!(
                    "{at}: an assistant message cannot hold a `{other}` part here"
                )))
            }
        }
    }
    let mut m = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        if text.is_empty() {
            m["content"] = Value::Null;
        }
        m["tool_calls"] = Value::Array(calls);
    }
    Ok(m)
}

/// A tool result as a `tool` message: text as is, anything else as its JSON.
fn tool_result(part: &Value, at: &str) -> Result<Value> {
    let output = part.get("output").unwrap_or(&Value::Null);
    let value = output.get("value").unwrap_or(&Value::Null);
    let content = match part_type(output) {
        "text" | "error-text" => value.as_str().unwrap_or_default().to_string(),
        "execution-denied" => output
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("Tool call execution denied.")
            .to_string(),
        "json" | "error-json" | "content" => value.to_string(),
        other => {
            return Err(invalid(format!(
                "{at}.output: unknown tool output type {other:?}"
            )))
        }
    };
    Ok(json!({
        "role": "tool",
        "tool_call_id": str_field(part, "toolCallId", at)?,
        "content": content,
    }))
}

fn response_format(format: &Value) -> Result<Option<Value>> {
    match part_type(format) {
        "text" => Ok(None),
        "json" => Ok(Some(match format.get("schema").filter(|s| !s.is_null()) {
            None => json!({"type": "json_object"}),
            Some(schema) => {
                let mut spec = json!({
                    "name": format.get("name").and_then(Value::as_str).unwrap_or("response"),
                    "schema": schema,
                });
                if let Some(d) = format.get("description").and_then(Value::as_str) {
                    spec["description"] = Value::from(d);
                }
                json!({"type": "json_schema", "json_schema": spec})
            }
        })),
        other => Err(invalid(format!(
            "responseFormat.type: expected text or json, got {other:?}"
        ))),
    }
}

/// Function tools in the OpenAI shape; provider-defined tools are warned about and left out.
fn function_tools(tools: &Value, warnings: &mut Vec<Value>) -> Result<Vec<Value>> {
    let Value::Array(tools) = tools else {
        return Err(invalid(format!(
            "tools: expected a list, got {}",
            json_type(tools)
        )));
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let at = format!("tools[{i}]");
        match part_type(tool) {
            "function" => {
                let mut function = json!({
                    "name": str_field(tool, "name", &at)?,
                    "parameters": tool.get("inputSchema").cloned().unwrap_or_else(|| json!({"type": "object"})),
                });
                if let Some(d) = tool.get("description").and_then(Value::as_str) {
                    function["description"] = Value::from(d);
                }
                if let Some(s) = tool.get("strict").and_then(Value::as_bool) {
                    function["strict"] = Value::from(s);
                }
                out.push(json!({"type": "function", "function": function}));
            }
            _ => warnings.push(unsupported(
                &format!(
                    "provider-defined tool {}",
                    tool.get("id").and_then(Value::as_str).unwrap_or("?")
                ),
                "polyfuse sends function tools only",
            )),
        }
    }
    Ok(out)
}

fn tool_choice(choice: &Value) -> Result<Value> {
    match part_type(choice) {
        t @ ("auto" | "none" | "required") => Ok(Value::from(t)),
        "tool" => Ok(json!({
            "type": "function",
            "function": {"name": str_field(choice, "toolName", "toolChoice")?},
        })),
        other => Err(invalid(format!(
            "toolChoice.type: expected auto, none, required or tool, got {other:?}"
        ))),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The unified finish reason and the one polyfuse reported.
fn finish_reason(f: &FinishReason) -> Value {
    let unified = match f {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool-calls",
        FinishReason::ContentFilter => "content-filter",
        FinishReason::Other(_) => "other",
    };
    json!({"unified": unified, "raw": f.as_str()})
}

/// Usage in v3's breakdown: input = no-cache + cache read + cache write, output = text +
/// reasoning; figures that are not known (`usage.source == "unknown"`) are left out (undefined).
/// `raw` is polyfuse's own usage object.
pub fn usage(u: &Usage) -> Value {
    let raw = serde_json::to_value(u).unwrap_or(Value::Null);
    if u.source == UsageSource::Unknown {
        return json!({"inputTokens": {}, "outputTokens": {}, "raw": raw});
    }
    json!({
        "inputTokens": {
            "total": u.input_tokens,
            "noCache": u.input_tokens.saturating_sub(u.cached_input_tokens).saturating_sub(u.cache_write_tokens),
            "cacheRead": u.cached_input_tokens,
            "cacheWrite": u.cache_write_tokens,
        },
        "outputTokens": {
            "total": u.output_tokens,
            "text": u.output_tokens.saturating_sub(u.reasoning_tokens),
            "reasoning": u.reasoning_tokens,
        },
        "raw": raw,
    })
}

/// `snake_case` keys of a serialized value, recursively in camelCase.
fn camel_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let mut out = String::with_capacity(k.len());
                    let mut upper = false;
                    for c in k.chars() {
                        if c == '_' {
                            upper = true;
                        } else if upper {
                            out.extend(c.to_uppercase());
                            upper = false;
                        } else {
                            out.push(c);
                        }
                    }
                    (out, camel_keys(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_keys).collect()),
        other => other,
    }
}

/// `providerMetadata.polyfuse`: the call's id, the model and provider that answered, the route,
/// timings, cost, how certain the usage is, and every attempt.
pub fn provider_metadata(r: &Response) -> Value {
    let mut m = json!({
        "requestId": r.id,
        "model": r.model,
        "provider": r.provider,
        "latencyMs": r.latency_ms,
        "usageSource": r.usage.source,
        "attempts": camel_keys(serde_json::to_value(&r.attempts).unwrap_or(Value::Null)),
    });
    for (key, value) in [
        ("providerModel", r.provider_model.clone().map(Value::from)),
        (
            "providerResponseId",
            r.provider_response_id.clone().map(Value::from),
        ),
        ("route", r.route.clone().map(Value::from)),
        ("ttftMs", r.ttft_ms.map(Value::from)),
        ("costUsd", r.usage.cost_usd.map(Value::from)),
    ] {
        if let Some(v) = value {
            m[key] = v;
        }
    }
    json!({"polyfuse": m})
}

fn response_metadata(r: &Response) -> Value {
    json!({
        "id": r.provider_response_id.clone().unwrap_or_else(|| r.id.clone()),
        "modelId": r.provider_model.clone().unwrap_or_else(|| r.model.clone()),
        "timestamp": now_ms(),
    })
}

/// A tool call's input as the specification wants it: JSON text (`{}` for a call without
/// arguments; invalid JSON is passed on as written, for the AI SDK to report).
fn tool_input(f: &FunctionCall) -> String {
    if f.arguments.trim().is_empty() {
        "{}".to_string()
    } else {
        f.arguments.clone()
    }
}

/// The result of `doGenerate`: reasoning, text and tool calls in that order, the finish reason,
/// usage, provider metadata, response metadata (`timestamp` in epoch milliseconds) and warnings.
pub fn generate_result(r: &Response, warnings: &[Value]) -> Value {
    let mut content = Vec::new();
    if let Some(reasoning) = r.reasoning.as_deref().filter(|s| !s.is_empty()) {
        content.push(json!({"type": "reasoning", "text": reasoning}));
    }
    if !r.text.is_empty() {
        content.push(json!({"type": "text", "text": r.text}));
    }
    for call in &r.message.tool_calls {
        content.push(json!({
            "type": "tool-call",
            "toolCallId": call.id,
            "toolName": call.function.name,
            "input": tool_input(&call.function),
        }));
    }
    json!({
        "content": content,
        "finishReason": finish_reason(&r.finish_reason),
        "usage": usage(&r.usage),
        "providerMetadata": provider_metadata(r),
        "response": response_metadata(r),
        "warnings": warnings,
    })
}

/// Which text-like block is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Text,
    Reasoning,
}

/// Turns stream events into `doStream` parts: `stream-start` (with the warnings) first; text and
/// reasoning in `*-start` / `*-delta` / `*-end` blocks (`text-0`, `reasoning-0`, ...); a tool
/// call as `tool-input-start` / `-delta` / `-end` then `tool-call` with its complete input; at the
/// end `response-metadata` (`timestamp` in epoch milliseconds) and `finish` (usage, finish reason,
/// provider metadata). An answer that arrived whole is sent as one block. A `restart` (another
/// target took over mid-stream) ends the open blocks, and the next block to start carries
/// `providerMetadata.polyfuse.restart`: what was shown before it is to be discarded.
#[derive(Debug)]
pub struct PartView {
    warnings: Vec<Value>,
    started: bool,
    open: Option<(Block, String)>,
    blocks: u32,
    sent_text: bool,
    sent_reasoning: bool,
    /// Tool calls whose input is streaming, by stream index: the id their parts use.
    tools: BTreeMap<u32, String>,
    restart: Option<Value>,
}

impl PartView {
    pub fn new(call: &LanguageModelCall) -> PartView {
        PartView {
            warnings: call.warnings.clone(),
            started: false,
            open: None,
            blocks: 0,
            sent_text: false,
            sent_reasoning: false,
            tools: BTreeMap::new(),
            restart: None,
        }
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        if let Some((block, id)) = self.open.take() {
            let kind = match block {
                Block::Text => "text-end",
                Block::Reasoning => "reasoning-end",
            };
            out.push(json!({"type": kind, "id": id}));
        }
    }

    fn with_restart(&mut self, mut part: Value) -> Value {
        if let Some(restart) = self.restart.take() {
            part["providerMetadata"] = json!({"polyfuse": {"restart": restart}});
        }
        part
    }

    fn block_delta(&mut self, block: Block, delta: String, out: &mut Vec<Value>) {
        if self.open.as_ref().map(|(b, _)| *b) != Some(block) {
            self.close(out);
            let (prefix, start) = match block {
                Block::Text => ("text", "text-start"),
                Block::Reasoning => ("reasoning", "reasoning-start"),
            };
            let id = format!("{prefix}-{}", self.blocks);
            self.blocks += 1;
            let part = self.with_restart(json!({"type": start, "id": id}));
            out.push(part);
            self.open = Some((block, id));
        }
        let (kind, id) = match &self.open {
            Some((Block::Text, id)) => ("text-delta", id.clone()),
            Some((Block::Reasoning, id)) => ("reasoning-delta", id.clone()),
            None => return,
        };
        match block {
            Block::Text => self.sent_text = true,
            Block::Reasoning => self.sent_reasoning = true,
        }
        out.push(json!({"type": kind, "id": id, "delta": delta}));
    }

    /// The parts for one event (none, one, or several).
    pub fn parts(&mut self, event: StreamEvent) -> Vec<Value> {
        let mut out = Vec::with_capacity(2);
        if !self.started {
            self.started = true;
            out.push(json!({"type": "stream-start", "warnings": self.warnings}));
        }
        match event {
            StreamEvent::TextDelta { text } => self.block_delta(Block::Text, text, &mut out),
            StreamEvent::ReasoningDelta { text } => {
                self.block_delta(Block::Reasoning, text, &mut out)
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                self.close(&mut out);
                if !self.tools.contains_key(&index) {
                    let id = id
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| format!("call_{index}"));
                    let part = self.with_restart(json!({
                        "type": "tool-input-start",
                        "id": id,
                        "toolName": name.unwrap_or_default(),
                    }));
                    out.push(part);
                    self.tools.insert(index, id);
                }
                if let Some(id) = self.tools.get(&index) {
                    if !arguments.is_empty() {
                        out.push(json!({"type": "tool-input-delta", "id": id, "delta": arguments}));
                    }
                }
            }
            StreamEvent::Restart {
                model,
                provider,
                reason,
            } => {
                self.close(&mut out);
                for id in std::mem::take(&mut self.tools).into_values() {
                    out.push(json!({"type": "tool-input-end", "id": id}));
                }
                self.sent_text = false;
                self.sent_reasoning = false;
                self.restart =
                    Some(json!({"model": model, "provider": provider, "reason": reason}));
            }
            StreamEvent::Final { response } => {
                if !self.sent_reasoning {
                    if let Some(r) = response.reasoning.clone().filter(|s| !s.is_empty()) {
                        self.block_delta(Block::Reasoning, r, &mut out);
                    }
                }
                if !self.sent_text && !response.text.is_empty() {
                    self.block_delta(Block::Text, response.text.clone(), &mut out);
                }
                self.close(&mut out);
                let mut streamed = std::mem::take(&mut self.tools).into_values();
                for (position, call) in response.message.tool_calls.iter().enumerate() {
                    let streamed_id = streamed.next();
                    if let Some(id) = &streamed_id {
                        out.push(json!({"type": "tool-input-end", "id": id}));
                    }
                    let id = Some(call.id.clone())
                        .filter(|s| !s.is_empty())
                        .or(streamed_id)
                        .unwrap_or_else(|| format!("call_{position}"));
                    out.push(json!({
                        "type": "tool-call",
                        "toolCallId": id,
                        "toolName": call.function.name,
                        "input": tool_input(&call.function),
                    }));
                }
                let mut metadata = json!({"type": "response-metadata"});
                if let (Some(m), Value::Object(r)) =
                    (metadata.as_object_mut(), response_metadata(&response))
                {
                    m.extend(r);
                }
                out.push(metadata);
                out.push(json!({
                    "type": "finish",
                    "usage": usage(&response.usage),
                    "finishReason": finish_reason(&response.finish_reason),
                    "providerMetadata": provider_metadata(&response),
                }));
            }
        }
        out
    }
}

/// A streamed call's events as `doStream` parts (see [`PartView`]); an error ends it as it ends
/// the event stream.
pub fn part_stream(events: EventStream, call: &LanguageModelCall) -> ValueStream {
    let mut view = PartView::new(call);
    map_stream(events, move |event| view.parts(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::message::{Message, Role, ToolCall};
    use crate::types::response::{Attempt, Outcome};

    fn call(options: Value) -> LanguageModelCall {
        LanguageModelCall::from_value("mock/echo", options).unwrap()
    }

    #[test]
    fn options_and_prompt_become_a_request() {
        let c = call(json!({
            "prompt": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "look"},
                    {"type": "file", "mediaType": "image/png", "data": "iVBOR"},
                    {"type": "file", "mediaType": "image/png", "data": "https://x.test/a.png"}]},
                {"role": "assistant", "content": [{"type": "reasoning", "text": "hmm"}, {"type": "text", "text": ""},
                    {"type": "tool-call", "toolCallId": "c1", "toolName": "w", "input": {"city": "Paris"}}]},
                {"role": "tool", "content": [{"type": "tool-result", "toolCallId": "c1", "toolName": "w",
                    "output": {"type": "json", "value": {"t": 21}}}]},
            ],
            "maxOutputTokens": 50, "temperature": 0.2, "stopSequences": ["END"], "topK": 3,
            "responseFormat": {"type": "json", "schema": {"type": "object"}, "name": "out"},
            "tools": [{"type": "function", "name": "w", "description": "weather", "inputSchema": {"type": "object"}},
                      {"type": "provider", "id": "openai.web_search", "name": "ws", "args": {}}],
            "toolChoice": {"type": "tool", "toolName": "w"},
            "providerOptions": {"polyfuse": {"tags": {"app": "x"}, "timeoutMs": 900}, "openai": {"user": "u"}},
            "headers": {"x-a": "1"},
            "futureOption": true,
        }));
        let r = &c.request;
        assert_eq!(r.messages.len(), 4);
        assert_eq!(
            r.messages[2].tool_calls[0].function.arguments,
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(r.messages[3].text(), "{\"t\":21}");
        let user = serde_json::to_value(&r.messages[1]).unwrap();
        assert_eq!(
            user["content"][1]["image_url"]["url"],
            "data:image/png;base64,iVBOR"
        );
        assert_eq!(
            user["content"][2]["image_url"]["url"],
            "https://x.test/a.png"
        );
        let p = &r.params;
        assert_eq!(
            (p.max_tokens, p.temperature, p.timeout_ms),
            (Some(50), Some(0.2), Some(900))
        );
        assert_eq!(
            p.response_format.as_ref().unwrap()["json_schema"]["name"],
            "out"
        );
        assert_eq!(p.tools.as_ref().unwrap().len(), 1);
        assert_eq!(p.tool_choice.as_ref().unwrap()["function"]["name"], "w");
        let features: Vec<_> = c
            .warnings
            .iter()
            .map(|w| w["feature"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            features,
            ["topK", "headers", "provider-defined tool openai.web_search"]
        );
    }

    #[test]
    fn the_ai_sdks_own_user_agent_is_no_warning() {
        let prompt = json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]);
        let c = call(json!({"prompt": prompt, "headers": {"user-agent": "ai/6.0.325"}}));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let c = call(json!({"prompt": prompt, "headers": {"User-Agent": "ai/6", "x-a": "1"}}));
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn what_cannot_be_sent_is_named() {
        let e = LanguageModelCall::from_value(
            "mock/echo",
            json!({"prompt": [{"role": "user", "content": [{"type": "file", "mediaType": "application/pdf", "data": "JVBER"}]}]}),
        )
        .unwrap_err();
        assert!(
            e.message.contains("prompt[0].content[0]") && e.message.contains("application/pdf"),
            "{}",
            e.message
        );
        let e = LanguageModelCall::from_value(
            "mock/echo",
            json!({"prompt": [{"role": "user", "content": [{"type": "text", "text": "x"}]}], "providerOptions": {"polyfuse": {"tagz": {}}}}),
        )
        .unwrap_err();
        assert!(e.message.contains("tagz"), "{}", e.message);
    }

    fn response() -> Response {
        Response {
            id: "pf-1".into(),
            provider_response_id: Some("chatcmpl-9".into()),
            text: "Hi".into(),
            message: Message::new(Role::Assistant, "Hi"),
            finish_reason: FinishReason::Stop,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 6,
                cached_input_tokens: 4,
                cache_write_tokens: 1,
                reasoning_tokens: 2,
                cost_usd: Some(0.5),
                source: UsageSource::Reported,
                ..Usage::default()
            },
            model: "mockhttp/gpt".into(),
            provider: "mockhttp".into(),
            provider_model: Some("gpt".into()),
            route: Some("chat".into()),
            latency_ms: 3.0,
            ttft_ms: Some(1.0),
            attempts: vec![Attempt {
                model: "mockhttp/gpt".into(),
                provider: "mockhttp".into(),
                outcome: Outcome::Ok,
                error_kind: None,
                error_message: None,
                status: None,
                latency_ms: 3.0,
                ttft_ms: Some(1.0),
                usage: Usage::default(),
                number: 1,
                hedge: false,
                fallback: false,
            }],
            reasoning: Some("think".into()),
            raw: None,
            fusion: None,
        }
    }

    #[test]
    fn generate_result_shape() {
        let v = generate_result(&response(), &[]);
        assert_eq!(
            v["content"][0],
            json!({"type": "reasoning", "text": "think"})
        );
        assert_eq!(v["content"][1], json!({"type": "text", "text": "Hi"}));
        assert_eq!(v["finishReason"], json!({"unified": "stop", "raw": "stop"}));
        assert_eq!(
            v["usage"]["inputTokens"],
            json!({"total": 10, "noCache": 5, "cacheRead": 4, "cacheWrite": 1})
        );
        assert_eq!(
            v["usage"]["outputTokens"],
            json!({"total": 6, "text": 4, "reasoning": 2})
        );
        let meta = &v["providerMetadata"]["polyfuse"];
        assert_eq!(meta["route"], "chat");
        assert_eq!(meta["costUsd"], 0.5);
        assert_eq!(meta["attempts"][0]["latencyMs"], 3.0);
        assert_eq!(meta["attempts"][0]["outcome"], "ok");
        assert_eq!(v["response"]["id"], "chatcmpl-9");
        let mut unknown = response();
        unknown.usage.source = UsageSource::Unknown;
        assert_eq!(
            generate_result(&unknown, &[])["usage"]["inputTokens"],
            json!({})
        );
    }

    #[test]
    fn stream_parts() {
        let c = call(
            json!({"prompt": [{"role": "user", "content": [{"type": "text", "text": "x"}]}], "topK": 1}),
        );
        let mut view = PartView::new(&c);
        let mut r = response();
        r.message.tool_calls = vec![ToolCall {
            id: "c1".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "w".into(),
                arguments: "{}".into(),
            },
        }];
        r.finish_reason = FinishReason::ToolCalls;
        let parts: Vec<Value> = [
            StreamEvent::ReasoningDelta {
                text: "think".into(),
            },
            StreamEvent::TextDelta { text: "H".into() },
            StreamEvent::TextDelta { text: "i".into() },
            StreamEvent::ToolCallDelta {
                index: 0,
                id: Some("c1".into()),
                name: Some("w".into()),
                arguments: "{".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                id: None,
                name: None,
                arguments: "}".into(),
            },
            StreamEvent::Final {
                response: Box::new(r),
            },
        ]
        .into_iter()
        .flat_map(|e| view.parts(e))
        .collect();
        let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "stream-start",
                "reasoning-start",
                "reasoning-delta",
                "reasoning-end",
                "text-start",
                "text-delta",
                "text-delta",
                "text-end",
                "tool-input-start",
                "tool-input-delta",
                "tool-input-delta",
                "tool-input-end",
                "tool-call",
                "response-metadata",
                "finish"
            ]
        );
        assert_eq!(parts[0]["warnings"][0]["feature"], "topK");
        assert_eq!(parts[4]["id"], "text-1");
        assert_eq!(parts[12]["toolCallId"], "c1");
        assert_eq!(parts[14]["finishReason"]["unified"], "tool-calls");
    }

    #[test]
    fn a_restart_starts_new_blocks() {
        let c =
            call(json!({"prompt": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}));
        let mut view = PartView::new(&c);
        let parts: Vec<Value> = [
            StreamEvent::TextDelta { text: "Hel".into() },
            StreamEvent::Restart {
                model: "b/y".into(),
                provider: "b".into(),
                reason: "stalled".into(),
            },
            StreamEvent::TextDelta {
                text: "Hello".into(),
            },
        ]
        .into_iter()
        .flat_map(|e| view.parts(e))
        .collect();
        let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "stream-start",
                "text-start",
                "text-delta",
                "text-end",
                "text-start",
                "text-delta"
            ]
        );
        assert_eq!(
            parts[4]["providerMetadata"]["polyfuse"]["restart"]["model"],
            "b/y"
        );
    }
}
