//! Anthropic's error bodies, `{"type":"error","error":{"type","message"},"request_id"}`: the
//! default status of each scripted [`ErrorKind`] (529 overloaded, 400 out of credits) and its
//! `error.type` and message. Request handling is in `anthropic.rs`.

use crate::json::Obj;
use crate::script::ErrorKind;

/// The status a scripted `error=` kind gets unless `status=` is given: overloaded is a 529, and
/// running out of credits is a 400 (the API's billing error).
pub(super) fn default_status(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::Overloaded => 529,
        ErrorKind::InsufficientQuota | ErrorKind::InsufficientCredits => 400,
        other => other.default_status(),
    }
}

/// `(error.type, error.message)` of a scripted error.
pub(super) fn scripted_error(kind: ErrorKind, status: u16, model: &str) -> (&'static str, String) {
    match kind {
        ErrorKind::InvalidRequest => (
            "invalid_request_error",
            format!("max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for {model}"),
        ),
        ErrorKind::ContextLengthExceeded => (
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum".to_owned(),
        ),
        ErrorKind::ContentFilter => (
            "invalid_request_error",
            "Output blocked by content filtering policy".to_owned(),
        ),
        ErrorKind::InvalidApiKey => ("authentication_error", "invalid x-api-key".to_owned()),
        ErrorKind::PermissionDenied => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.".to_owned(),
        ),
        ErrorKind::ModelNotFound => ("not_found_error", format!("model: {model}")),
        ErrorKind::RequestTooLarge => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.".to_owned(),
        ),
        // error_429_rate_limit_error.json.
        ErrorKind::RateLimit => (
            "rate_limit_error",
            "This request would exceed the rate limit for your organization (00000000-0000-4000-8000-000000000000) of 40,000 input tokens per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.".to_owned(),
        ),
        ErrorKind::InsufficientQuota | ErrorKind::InsufficientCredits => (
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.".to_owned(),
        ),
        ErrorKind::ServerError => ("api_error", "Internal server error".to_owned()),
        // error_529_overloaded.json.
        ErrorKind::Overloaded | ErrorKind::Other(529) => {
            ("overloaded_error", "Overloaded".to_owned())
        }
        ErrorKind::BadGateway | ErrorKind::Other(_) if status >= 500 => {
            ("api_error", "Internal server error".to_owned())
        }
        ErrorKind::BadGateway | ErrorKind::Other(_) => (
            "invalid_request_error",
            format!("polyfuse-mock-server: scripted HTTP {status}"),
        ),
    }
}

/// `{"type":"error","error":{"type","message"},"request_id"}` (pai_error_400_invalid_request).
pub(super) fn error_body(kind: &str, message: &str, request_id: Option<&str>) -> Vec<u8> {
    Obj::new()
        .f("type", "error")
        .f(
            "error",
            Obj::new().f("type", kind).f("message", message).raw(),
        )
        .opt("request_id", request_id)
        .bytes()
}
