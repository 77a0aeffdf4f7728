//! Gemini's error bodies, `{"error":{"code","message","status"[,"details"]}}` with the gRPC
//! status name: the default status of each scripted [`ErrorKind`] (a bad key is a 400), the bad-key
//! body with its details, the 429 with `QuotaFailure` and `RetryInfo`, and the 500 message the
//! mid-stream error shares. Request handling is in `gemini.rs`.

use serde_json::{json, Value};

use crate::json::Obj;
use crate::script::{ErrorKind, Script};

/// The message of a 500 (also the mid-stream error's).
pub(super) const INTERNAL: &str = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting";

/// The status a scripted `error=` kind gets unless `status=` is given: a bad key is a 400.
pub(super) fn default_status(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::InvalidApiKey => 400,
        other => other.default_status(),
    }
}

/// The canonical gRPC status name of an HTTP status.
fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "NOT_IMPLEMENTED",
        502 | 503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// `{"error":{"code","message","status"[,"details"]}}` (error_400_invalid_argument.json).
pub(super) fn error(code: u16, message: &str, details: Option<Vec<Value>>) -> Vec<u8> {
    Obj::new()
        .f(
            "error",
            Obj::new()
                .f("code", code)
                .f("message", message)
                .f("status", status_name(code))
                .opt("details", details)
                .raw(),
        )
        .bytes()
}

/// The message of a bad key (error_400_api_key_invalid.json).
const API_KEY_INVALID: &str = "API key not valid. Please pass a valid API key.";

/// error_400_api_key_invalid.json; its DebugInfo echoes the key, as recorded: the client must
/// redact it.
pub(super) fn api_key_invalid(status: u16, key: &str) -> Vec<u8> {
    error(
        status,
        API_KEY_INVALID,
        Some(api_key_invalid_details(key, API_KEY_INVALID)),
    )
}

/// The `details` of a bad key; the `LocalizedMessage` repeats `message`.
fn api_key_invalid_details(key: &str, message: &str) -> Vec<Value> {
    vec![
        json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
               "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}),
        json!({"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
               "message": message}),
        json!({"@type": "type.googleapis.com/google.rpc.DebugInfo",
               "detail": format!("Invalid API key: {key}")}),
    ]
}

/// The retry delay for `RetryInfo`: `retry_after_ms` (`"1.5s"`), else a numeric `retry_after`
/// (`"2s"`); an HTTP-date `retry_after` has no equivalent and is dropped.
fn retry_delay(script: &Script) -> Option<String> {
    match (script.retry_after_ms, &script.retry_after) {
        (Some(ms), _) => Some(format!("{}s", ms as f64 / 1000.0)),
        (None, Some(s)) if s.parse::<f64>().is_ok() => Some(format!("{s}s")),
        _ => None,
    }
}

/// The body of a scripted error, its message (also the bad key's `LocalizedMessage`) replaced by
/// `error_message`.
pub(super) fn scripted_error(
    kind: ErrorKind,
    status: u16,
    model: &str,
    key: &str,
    script: &Script,
) -> Vec<u8> {
    let (message, details) = match kind {
        ErrorKind::InvalidRequest | ErrorKind::ContentFilter => {
            ("Request contains an invalid argument.".to_owned(), None)
        }
        ErrorKind::ContextLengthExceeded => (
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).".to_owned(),
            None,
        ),
        ErrorKind::InvalidApiKey => {
            let message = script.error_text(API_KEY_INVALID);
            (message.to_owned(), Some(api_key_invalid_details(key, message)))
        }
        ErrorKind::PermissionDenied => ("The caller does not have permission".to_owned(), None),
        ErrorKind::ModelNotFound => (
            format!("models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."),
            None,
        ),
        ErrorKind::RequestTooLarge => (
            "Request payload size exceeds the limit: 20971520 bytes.".to_owned(),
            None,
        ),
        // error_429_resource_exhausted_quota_details.json, with the RetryInfo of
        // vercel_error_429_resource_exhausted_retryinfo.json when a delay is scripted.
        ErrorKind::RateLimit | ErrorKind::InsufficientQuota | ErrorKind::InsufficientCredits => {
            let mut details = vec![
                json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": model}}]}),
                json!({"@type": "type.googleapis.com/google.rpc.Help", "links": [{
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}),
            ];
            if let Some(delay) = retry_delay(script) {
                details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                    "retryDelay": delay}));
            }
            (
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.".to_owned(),
                Some(details),
            )
        }
        ErrorKind::ServerError => (INTERNAL.to_owned(), None),
        // error_503_unavailable_overloaded.json.
        ErrorKind::Overloaded | ErrorKind::BadGateway => (
            "The model is overloaded. Please try again later.".to_owned(),
            None,
        ),
        ErrorKind::Other(504) => (
            "Deadline expired before operation could complete.".to_owned(),
            None,
        ),
        ErrorKind::Other(_) => (format!("polyfuse-mock-server: scripted HTTP {status}"), None),
    };
    error(status, script.error_text(&message), details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays() {
        let s = Script::parse("retry_after=7", None).unwrap();
        assert_eq!(retry_delay(&s).as_deref(), Some("7s"));
        let s = Script::parse("retry_after_ms=1500", None).unwrap();
        assert_eq!(retry_delay(&s).as_deref(), Some("1.5s"));
        assert_eq!(retry_delay(&Script::default()), None);
    }
}
