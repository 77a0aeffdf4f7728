//! OpenAI's error bodies, `{"error":{"message","type","param","code"}}`: the request errors
//! (auth, bad JSON, missing fields, bad mock options), the body of each scripted [`ErrorKind`]
//! (its message replaced by `error_message`; also what `error_body=openai` sends from the other
//! endpoints) and the mid-stream error event. The Mistral flavour reuses the request errors'
//! wording.

use serde::Serialize;
use serde_json::Value;

use crate::script::{ErrorKind, Script};

// ---- errors: {"error":{"message","type","param","code"}} ----

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a ErrorObject,
}

#[derive(Serialize)]
pub(crate) struct ErrorObject {
    pub(crate) message: String,
    #[serde(rename = "type")]
    pub(crate) kind: Option<&'static str>,
    pub(crate) param: Option<&'static str>,
    pub(crate) code: Value,
    /// Azure's content-filter error adds these two.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    innererror: Option<Value>,
}

impl ErrorObject {
    pub(super) fn new(
        message: impl Into<String>,
        kind: &'static str,
        param: Option<&'static str>,
        code: Option<&'static str>,
    ) -> Self {
        ErrorObject {
            message: message.into(),
            kind: Some(kind),
            param,
            code: code.map_or(Value::Null, Value::from),
            status: None,
            innererror: None,
        }
    }

    pub(crate) fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody { error: self }).unwrap_or_default()
    }

    pub(super) fn missing_key() -> Self {
        Self::new(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            None,
        )
    }

    /// Echoes the key in full, as the real API does: the client must redact it.
    pub(super) fn invalid_api_key(key: &str) -> Self {
        Self::new(
            format!("Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys."),
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        )
    }

    pub(super) fn invalid_json() -> Self {
        Self::new(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
            "invalid_request_error",
            None,
            None,
        )
    }

    pub(super) fn missing_model() -> Self {
        Self::new(
            "you must provide a model parameter",
            "invalid_request_error",
            None,
            None,
        )
    }

    pub(super) fn missing_messages() -> Self {
        Self::new(
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            Some("messages"),
            Some("missing_required_parameter"),
        )
    }

    pub(super) fn bad_mock_option(message: String) -> Self {
        Self::new(
            format!("polyfuse-mock-server: {message}"),
            "invalid_request_error",
            Some("model"),
            Some("mock_bad_option"),
        )
    }

    /// The `error_after` event's error (its message overridable by `error_message`).
    pub(super) fn mid_stream(script: &Script) -> Self {
        Self::new(
            script.error_text("stream failed after output"),
            "server_error",
            None,
            None,
        )
    }

    /// The error of a scripted kind and status, its message replaced by `error_message`: what
    /// the OpenAI endpoint sends, and `error_body=openai` on the others. `api_key` is echoed by
    /// `invalid_api_key`, `request_id` named by `overloaded`.
    pub(crate) fn for_kind(
        kind: ErrorKind,
        status: u16,
        model: &str,
        api_key: &str,
        script: &Script,
        request_id: &str,
    ) -> Self {
        let mut error = match kind {
            // reasoning-model-legacy-parameter-error.json (vercel, REC).
            ErrorKind::InvalidRequest => Self::new(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "invalid_request_error",
                Some("max_tokens"),
                Some("unsupported_parameter"),
            ),
            ErrorKind::ContextLengthExceeded => Self::new(
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                Some("messages"),
                Some("context_length_exceeded"),
            ),
            // Azure OpenAI's prompt filter (the public API has no such 400; Azure is a target).
            ErrorKind::ContentFilter => ErrorObject {
                message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766".into(),
                kind: None,
                param: Some("prompt"),
                code: Value::from("content_filter"),
                status: Some(status),
                innererror: Some(serde_json::json!({
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {
                        "hate": {"filtered": false, "severity": "safe"},
                        "jailbreak": {"filtered": false, "detected": false},
                        "self_harm": {"filtered": false, "severity": "safe"},
                        "sexual": {"filtered": false, "severity": "safe"},
                        "violence": {"filtered": true, "severity": "medium"}
                    }
                })),
            },
            ErrorKind::InvalidApiKey => Self::invalid_api_key(api_key),
            ErrorKind::PermissionDenied => Self::new(
                "Country, region, or territory not supported",
                "request_forbidden",
                None,
                Some("unsupported_country_region_territory"),
            ),
            ErrorKind::ModelNotFound => Self::new(
                format!("The model `{model}` does not exist or you do not have access to it."),
                "invalid_request_error",
                None,
                Some("model_not_found"),
            ),
            ErrorKind::RequestTooLarge => Self::new(
                format!("Request too large for {model}. Please reduce the size of your request."),
                "invalid_request_error",
                None,
                Some("request_too_large"),
            ),
            // error_429_rate_limit_exceeded_tpm.json.
            ErrorKind::RateLimit => {
                let wait = match (script.retry_after_ms, &script.retry_after) {
                    (Some(ms), _) if ms < 1000 => format!("{ms}ms"),
                    (Some(ms), _) => format!("{}s", ms as f64 / 1000.0),
                    (None, Some(s)) if s.parse::<f64>().is_ok() => format!("{s}s"),
                    _ => "1.574s".to_owned(),
                };
                Self::new(
                    format!("Rate limit reached for {model} in organization org-mock on tokens per min (TPM): Limit 200000, Used 162960, Requested 42288. Please try again in {wait}. Visit https://platform.openai.com/account/rate-limits to learn more."),
                    "tokens",
                    None,
                    Some("rate_limit_exceeded"),
                )
            }
            // error_429_insufficient_quota.json (OpenAI has no 402: out of credits is this body).
            ErrorKind::InsufficientQuota | ErrorKind::InsufficientCredits => Self::new(
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                None,
                Some("insufficient_quota"),
            ),
            ErrorKind::ServerError => Self::new(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            ),
            ErrorKind::BadGateway => ErrorObject {
                code: Value::from(502),
                ..Self::new("Bad gateway.", "cf_bad_gateway", None, None)
            },
            ErrorKind::Overloaded => Self::new(
                format!("That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists. (Please include the request ID {request_id} in your message.)"),
                "server_error",
                None,
                None,
            ),
            ErrorKind::Other(status) => Self::new(
                format!("polyfuse-mock-server: scripted HTTP {status}"),
                if status >= 500 {
                    "server_error"
                } else {
                    "invalid_request_error"
                },
                None,
                None,
            ),
        };
        if let Some(message) = &script.error_message {
            error.message = message.clone();
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes() {
        let e = ErrorObject::invalid_api_key("bad-key-123");
        let v: Value = serde_json::from_slice(&e.to_body()).unwrap();
        assert_eq!(v["error"]["code"], "invalid_api_key");
        assert!(v["error"]["param"].is_null());
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad-key-123"));
        let s = Script::default();
        let e = ErrorObject::for_kind(ErrorKind::BadGateway, 502, "m", "k", &s, "r");
        let v: Value = serde_json::from_slice(&e.to_body()).unwrap();
        assert_eq!(v["error"]["code"], 502);
    }
}
