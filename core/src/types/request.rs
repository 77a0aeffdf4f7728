//! The request model: one logical call (model or route, messages, parameters) that every provider
//! translates into its own wire format.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::error::{Error, Result};
use crate::types::message::Message;

/// Generation parameters. Unknown names are rejected with an error that names them; fields we do
/// not model go in `extra`, which is merged into the provider's request body as is. The camelCase
/// spellings (`maxTokens`, `topP`, ...) are accepted too, so every binding passes its caller's
/// names straight through.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "topP")]
    pub top_p: Option<f64>,
    /// Maximum output tokens (sent as `max_completion_tokens` or `max_tokens` per provider).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "max_completion_tokens",
        alias = "maxTokens",
        alias = "maxCompletionTokens"
    )]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Tool definitions, OpenAI shape: `[{type: "function", function: {name, description, parameters}}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "toolChoice")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "parallelToolCalls")]
    pub parallel_tool_calls: Option<bool>,
    /// `{type: "json_object"}` or `{type: "json_schema", json_schema: {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "responseFormat")]
    pub response_format: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "reasoningEffort")]
    pub reasoning_effort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Provider-specific fields merged into the request body unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// Caller tags, copied into usage events and used as keys of usage aggregates and budgets
    /// (never sent to the provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Map<String, Value>>,
    /// Caller metadata, carried into usage events as is (never sent to the provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Total deadline for this call in milliseconds (overrides the config's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: Option<u64>,
    /// First-token deadline of this call's attempts in milliseconds (overrides target, route and
    /// policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "firstTokenTimeoutMs")]
    pub first_token_timeout_ms: Option<u64>,
    /// Stream-idle deadline of this call's attempts in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "streamIdleTimeoutMs")]
    pub stream_idle_timeout_ms: Option<u64>,
    /// Cap on each attempt of this call in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "attemptTimeoutMs")]
    pub attempt_timeout_ms: Option<u64>,
    /// Keep the provider's raw response body on the Response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "includeRaw")]
    pub include_raw: Option<bool>,
}

/// `stop`: one sequence or several.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Read by hand so that a wrong value says "expected a string or a list of strings".
impl<'de> Deserialize<'de> for Stop {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Stop;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Stop, E> {
                Ok(Stop::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Stop, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    all.push(s);
                }
                Ok(Stop::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}

impl Params {
    /// Ranges the providers document: a number out of range is an invalid request naming it,
    /// before anything is sent.
    fn validate(&self) -> Result<()> {
        let range = |name: &str, v: Option<f64>, lo: f64, hi: f64| -> Result<()> {
            match v {
                Some(x) if !(x.is_finite() && (lo..=hi).contains(&x)) => {
                    Err(Error::invalid_request(format!(
                        "parameter `{name}`: expected a number from {lo} to {hi}, got {x}"
                    )))
                }
                _ => Ok(()),
            }
        };
        range("temperature", self.temperature, 0.0, 2.0)?;
        range("top_p", self.top_p, 0.0, 1.0)?;
        if self.max_tokens == Some(0) {
            return Err(Error::invalid_request(
                "parameter `max_tokens`: expected at least 1, got 0",
            ));
        }
        for (name, v) in [
            ("timeout_ms", self.timeout_ms),
            ("first_token_timeout_ms", self.first_token_timeout_ms),
            ("stream_idle_timeout_ms", self.stream_idle_timeout_ms),
            ("attempt_timeout_ms", self.attempt_timeout_ms),
        ] {
            if v == Some(0) {
                return Err(Error::invalid_request(format!(
                    "parameter `{name}`: expected at least 1 (milliseconds), got 0"
                )));
            }
        }
        Ok(())
    }
}

/// One logical call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// `provider/model` (e.g. `openai/gpt-4o-mini`, `mock/echo`).
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(flatten)]
    pub params: Params,
}

impl Request {
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        Request {
            model: model.into(),
            messages,
            params: Params::default(),
        }
    }

    /// Builds a request from loosely typed values, as the bindings receive them: `input` is a
    /// prompt string or a list of OpenAI-style messages, `params` an object of parameters.
    /// Errors name the argument and the field that was wrong.
    pub fn from_values(model: &str, input: Value, params: Value) -> Result<Self> {
        if model.trim().is_empty() {
            return Err(Error::invalid_request(
                "argument `model`: expected `provider/model` (e.g. `openai/gpt-4o-mini` or `mock/echo`), got an empty string",
            ));
        }
        let messages = match input {
            Value::String(prompt) => vec![Message::user(prompt)],
            Value::Array(_) => {
                serde_path_to_error::deserialize::<_, Vec<Message>>(input).map_err(|e| {
                    Error::invalid_request(format!(
                        "argument `messages` at `{}`: {}",
                        e.path(),
                        e.inner()
                    ))
                })?
            }
            other => {
                return Err(Error::invalid_request(format!(
                    "argument `messages`: expected a prompt string or a list of messages, got {}",
                    json_type(&other)
                )))
            }
        };
        if messages.is_empty() {
            return Err(Error::invalid_request(
                "argument `messages`: the list is empty",
            ));
        }
        let params = match params {
            Value::Null => Params::default(),
            Value::Object(_) => {
                serde_path_to_error::deserialize::<_, Params>(params).map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner().to_string();
                    if path == "." {
                        Error::invalid_request(format!(
                            "parameters: {inner} (use `extra` for provider-specific fields)"
                        ))
                    } else {
                        Error::invalid_request(format!("parameter `{path}`: {inner}"))
                    }
                })?
            }
            other => {
                return Err(Error::invalid_request(format!(
                    "parameters: expected an object, got {}",
                    json_type(&other)
                )))
            }
        };
        params.validate()?;
        Ok(Request {
            model: model.to_string(),
            messages,
            params,
        })
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_string_becomes_one_user_message() {
        let r =
            Request::from_values("mock/echo", json!("hi"), json!({"temperature": 0.2})).unwrap();
        assert_eq!(r.messages, vec![Message::user("hi")]);
        assert_eq!(r.params.temperature, Some(0.2));
    }

    #[test]
    fn camel_case_names_are_accepted() {
        let r = Request::from_values(
            "mock/echo",
            json!("hi"),
            json!({"maxTokens": 5, "topP": 0.5, "timeoutMs": 9}),
        )
        .unwrap();
        assert_eq!(
            (r.params.max_tokens, r.params.top_p, r.params.timeout_ms),
            (Some(5), Some(0.5), Some(9))
        );
    }

    #[test]
    fn unknown_parameter_is_named() {
        let e =
            Request::from_values("mock/echo", json!("hi"), json!({"temprature": 1})).unwrap_err();
        assert!(e.message.contains("temprature"), "{}", e.message);
    }

    #[test]
    fn wrong_values_are_named_with_what_is_accepted() {
        let err = |input: Value, params: Value| {
            Request::from_values("mock/echo", input, params)
                .unwrap_err()
                .message
        };
        let e = err(json!([{"role": "user", "content": 5}]), Value::Null);
        assert!(
            e.contains("[0].content") && e.contains("a string or a list of content parts"),
            "{e}"
        );
        let e = err(
            json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "audio", "data": "x"}]}]),
            Value::Null,
        );
        assert!(
            e.contains("[0].content[1]") && e.contains("audio") && e.contains("image_url"),
            "{e}"
        );
        let e = err(json!("hi"), json!({"stop": 5}));
        assert!(
            e.contains("stop") && e.contains("a string or a list of strings"),
            "{e}"
        );
        let e = err(json!("hi"), json!({"temperature": -5}));
        assert!(
            e.contains("temperature") && e.contains("from 0 to 2"),
            "{e}"
        );
        let e = err(json!("hi"), json!({"top_p": 1.5}));
        assert!(e.contains("top_p"), "{e}");
        let e = err(
            json!("hi"),
            json!({"max_tokens": 1_180_591_620_717_411_303_424u128 as f64}),
        );
        assert!(e.contains("max_tokens"), "{e}");
        let e = err(json!("hi"), json!({"max_tokens": 0}));
        assert!(e.contains("max_tokens"), "{e}");
    }

    #[test]
    fn bad_message_names_its_path() {
        let e = Request::from_values(
            "mock/echo",
            json!([{"role": "user", "content": "a"}, {"role": "robot"}]),
            Value::Null,
        )
        .unwrap_err();
        assert!(e.message.contains("[1]"), "{}", e.message);
        assert!(e.message.contains("robot"), "{}", e.message);
    }
}
