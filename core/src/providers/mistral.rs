//! The Mistral chat-completions wire format: OpenAI-like, so responses and streams are parsed by
//! the OpenAI implementation (which also understands Magistral's content-as-parts). What differs
//! lives here: the request body (`max_tokens`, `random_seed`, no `stream_options`, only fields
//! Mistral accepts, since unknown ones are a 422), tool-call ids rewritten to `^[a-zA-Z0-9]{9}$`
//! (consistently across a conversation that started on another provider), and Mistral's error
//! bodies (`{"object":"error",...}`, `{"message":...}`, `{"detail":...}`).
use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::{Map, Value};

use super::http::{http_error, ErrorReading, Scope};
use super::openai::{classify, OpenAiProvider};
use super::stream::Decoder;
use super::{Completion, HttpWire, ProviderStream};
use crate::config::ProviderConfig;
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::request::{Request, Stop};

/// A Mistral endpoint (`{base}/chat/completions`, Bearer key).
pub struct MistralProvider {
    inner: OpenAiProvider,
}

impl MistralProvider {
    pub fn new(name: &str, pc: &ProviderConfig, http: reqwest::Client) -> Result<Self> {
        let mut pc = pc.clone();
        pc.max_tokens_field = Some("max_tokens".into());
        Ok(MistralProvider {
            inner: OpenAiProvider::new(name, &pc, http)?,
        })
    }

    /// The request body for `req` (as JSON).
    pub fn request_body(&self, model: &str, req: &Request, stream: bool) -> Result<Value> {
        build_body(model, req, stream)
    }

    /// Parses an SSE body given as chunks, exactly as if it had arrived over the wire.
    pub fn replay_sse(&self, model: &str, chunks: Vec<bytes::Bytes>) -> ProviderStream {
        super::replay(self, model, chunks)
    }

    async fn send_request(
        &self,
        model: &str,
        req: &Request,
        stream: bool,
    ) -> Result<reqwest::Response> {
        let body = serde_json::to_vec(&build_request(model, req, stream)?)
            .map_err(|e| Error::invalid_request(format!("could not encode the request: {e}")))?;
        match self.inner.post(body, model).await? {
            Ok(resp) => Ok(resp),
            Err(f) => Err(http_error(&self.inner.scope, &f, model, read_error)),
        }
    }
}

/// Reads Mistral's error bodies: `{"object":"error","message","type","param","code"}`,
/// `{"message":"Unauthorized"}`, `{"detail":"Not Found"}` (422: `detail` is a list). An
/// OpenAI-shaped `{"error": ...}` body is left to the OpenAI reader.
pub(crate) fn read_error(body: &[u8], by_status: ErrorKind) -> Option<ErrorReading> {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    if o.contains_key("error") {
        return None;
    }
    let message = match o.get("message").or_else(|| o.get("detail")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => return None,
    };
    let kind_field = o.get("type").and_then(Value::as_str);
    let code = match o.get("code") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let kind = if kind_field == Some("rate_limited") {
        ErrorKind::RateLimited
    } else if message.to_ascii_lowercase().contains("too large for model") {
        ErrorKind::ContextWindowExceeded
    } else {
        classify(by_status, code.as_deref(), kind_field, &message)
    };
    Some(ErrorReading {
        kind,
        message,
        code: code.or(kind_field.map(String::from)),
        retry_after: None,
    })
}

impl HttpWire for MistralProvider {
    fn scope(&self) -> &Arc<Scope> {
        &self.inner.scope
    }

    fn send<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
        stream: bool,
    ) -> BoxFuture<'a, Result<reqwest::Response>> {
        Box::pin(self.send_request(model, req, stream))
    }

    fn parse(&self, bytes: &[u8], model: &str, include_raw: bool) -> Result<Completion> {
        self.inner.parse_completion(bytes, model, include_raw)
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        self.inner.stream_decoder()
    }
}

#[derive(Serialize)]
struct MistralRequest<'a> {
    model: &'a str,
    messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    random_seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a Value>,
    stream: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a Map<String, Value>>,
}

/// The request body as JSON (for inspection and tests; sending serializes [`build_request`]'s
/// typed body straight to bytes).
fn build_body(model: &str, req: &Request, stream: bool) -> Result<Value> {
    serde_json::to_value(build_request(model, req, stream)?)
        .map_err(|e| Error::invalid_request(format!("could not encode the request: {e}")))
}

fn build_request<'a>(model: &'a str, req: &'a Request, stream: bool) -> Result<MistralRequest<'a>> {
    let p = &req.params;
    let mut messages = serde_json::to_value(&req.messages)
        .map_err(|e| Error::invalid_request(format!("could not encode the request: {e}")))?;
    rewrite_tool_ids(&mut messages);
    let messages = match messages {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    let body = MistralRequest {
        model,
        messages,
        temperature: p.temperature,
        top_p: p.top_p,
        max_tokens: p.max_tokens,
        stop: p.stop.as_ref(),
        random_seed: p.seed,
        tools: p.tools.as_ref(),
        tool_choice: p.tool_choice.as_ref(),
        parallel_tool_calls: p.parallel_tool_calls,
        response_format: p.response_format.as_ref(),
        stream,
        extra: p.extra.as_ref(),
    };
    Ok(body)
}

/// Whether Mistral accepts `id` as a tool-call id.
pub fn valid_tool_id(id: &str) -> bool {
    id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A 9-character alphanumeric id derived from `id` (the same input always gives the same output).
pub fn mistral_tool_id(id: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..9)
        .map(|_| {
            let c = ALPHABET[(h % 62) as usize] as char;
            h = (h / 62) ^ h.rotate_left(17);
            c
        })
        .collect()
}

/// Rewrites every tool-call id Mistral would reject, in assistant `tool_calls` and in tool
/// messages' `tool_call_id` alike, so calls and results still match.
fn rewrite_tool_ids(messages: &mut Value) {
    let mut map: HashMap<String, String> = HashMap::new();
    let mut fix = |id: &mut Value| {
        if let Value::String(s) = id {
            if !valid_tool_id(s) {
                let new = map
                    .entry(s.clone())
                    .or_insert_with(|| mistral_tool_id(s))
                    .clone();
                *s = new;
            }
        }
    };
    for m in messages.as_array_mut().into_iter().flatten() {
        if let Some(calls) = m.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for c in calls {
                if let Some(id) = c.get_mut("id") {
                    fix(id);
                }
            }
        }
        if let Some(id) = m.get_mut("tool_call_id") {
            fix(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_rewritten_consistently() {
        let req = Request::from_values(
            "mistral/m",
            json!([
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_abc_123", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "Ab3dE6gH9", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_abc_123", "content": "1"},
                {"role": "tool", "tool_call_id": "Ab3dE6gH9", "content": "2"},
            ]),
            json!({"seed": 7, "max_tokens": 5}),
        )
        .unwrap();
        let b = build_body("m", &req, true).unwrap();
        let new_id = b["messages"][1]["tool_calls"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(valid_tool_id(&new_id), "{new_id}");
        assert_eq!(b["messages"][2]["tool_call_id"], new_id.as_str());
        assert_eq!(b["messages"][1]["tool_calls"][1]["id"], "Ab3dE6gH9");
        assert_eq!(b["messages"][3]["tool_call_id"], "Ab3dE6gH9");
        assert_eq!(b["random_seed"], 7);
        assert_eq!(b["max_tokens"], 5);
        assert!(
            b.get("seed").is_none()
                && b.get("stream_options").is_none()
                && b.get("max_completion_tokens").is_none()
        );
        assert_eq!(mistral_tool_id("call_abc_123"), new_id);
    }
}
