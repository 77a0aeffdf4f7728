//! Errors: one [`Error`] type with a [`ErrorKind`] per meaning (rate limited, authentication, ...),
//! carrying the provider, model, HTTP status, retry delay and the attempts made.
//!
//! Messages are redacted of API keys before an `Error` is built (see `redact`), so neither
//! `Display` nor `Debug` can leak a key.
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::response::Attempt;

/// What went wrong, by meaning. Bindings map each kind to one exception class / `kind` string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 429 and friends: slow down, maybe after `retry_after`.
    RateLimited,
    /// The provider is overloaded (503, Anthropic 529).
    Overloaded,
    /// 5xx from the provider.
    Server,
    /// A deadline ran out (connect, first token, stream idle, attempt or total).
    Timeout,
    /// The connection failed, was reset, or a stream ended before it was complete.
    Connection,
    /// The key was rejected (401).
    Authentication,
    /// The key is valid but may not do this (403).
    Permission,
    /// Billing / quota state (429 insufficient_quota, 402): never retried.
    Quota,
    /// The provider rejected the request (400, 404, 422) or a parameter was invalid.
    InvalidRequest,
    /// The prompt does not fit the model's context window.
    ContextWindowExceeded,
    /// The provider's content filter refused the request or the answer.
    ContentFiltered,
    /// A polyfuse budget would be exceeded.
    BudgetExceeded,
    /// The configuration document or the client setup is wrong.
    Config,
    /// The caller cancelled (asyncio cancel, AbortSignal).
    Cancelled,
    /// The provider answered with something polyfuse could not understand.
    InvalidResponse,
    /// The provider sent more than a `policy.limits` allows (the message names the limit).
    ResponseTooLarge,
    /// Every attempt of a routed call failed; see `attempts`.
    AllAttemptsFailed,
    /// A bug in polyfuse (a caught panic): please report it.
    Internal,
}

impl ErrorKind {
    /// The snake_case name used in Python, JS and usage events.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Server => "server",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Permission => "permission",
            ErrorKind::Quota => "quota",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::ContextWindowExceeded => "context_window_exceeded",
            ErrorKind::ContentFiltered => "content_filtered",
            ErrorKind::BudgetExceeded => "budget_exceeded",
            ErrorKind::Config => "config",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::ResponseTooLarge => "response_too_large",
            ErrorKind::AllAttemptsFailed => "all_attempts_failed",
            ErrorKind::Internal => "internal",
        }
    }

    /// Every kind, in declaration order (bindings build one error class per kind from this).
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::RateLimited,
        ErrorKind::Overloaded,
        ErrorKind::Server,
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::Authentication,
        ErrorKind::Permission,
        ErrorKind::Quota,
        ErrorKind::InvalidRequest,
        ErrorKind::ContextWindowExceeded,
        ErrorKind::ContentFiltered,
        ErrorKind::BudgetExceeded,
        ErrorKind::Config,
        ErrorKind::Cancelled,
        ErrorKind::InvalidResponse,
        ErrorKind::ResponseTooLarge,
        ErrorKind::AllAttemptsFailed,
        ErrorKind::Internal,
    ];

    /// The error class name for this kind, the same in Python and JS (`RateLimitError`, ...);
    /// every class derives from `PolyfuseError`.
    pub fn class_name(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "RateLimitError",
            ErrorKind::Overloaded => "OverloadedError",
            ErrorKind::Server => "ServerError",
            ErrorKind::Timeout => "TimeoutError",
            ErrorKind::Connection => "ConnectionError",
            ErrorKind::Authentication => "AuthenticationError",
            ErrorKind::Permission => "PermissionDeniedError",
            ErrorKind::Quota => "QuotaExceededError",
            ErrorKind::InvalidRequest => "InvalidRequestError",
            ErrorKind::ContextWindowExceeded => "ContextWindowExceededError",
            ErrorKind::ContentFiltered => "ContentFilteredError",
            ErrorKind::BudgetExceeded => "BudgetExceededError",
            ErrorKind::Config => "ConfigError",
            ErrorKind::Cancelled => "CancelledError",
            ErrorKind::InvalidResponse => "InvalidResponseError",
            ErrorKind::ResponseTooLarge => "ResponseTooLargeError",
            ErrorKind::AllAttemptsFailed => "AllAttemptsFailedError",
            ErrorKind::Internal => "InternalError",
        }
    }

    /// Whether another attempt at the same target could succeed. Chosen per kind, explicitly.
    pub fn is_retryable(self) -> bool {
        match self {
            ErrorKind::RateLimited
            | ErrorKind::Overloaded
            | ErrorKind::Server
            | ErrorKind::Timeout
            | ErrorKind::Connection
            | ErrorKind::InvalidResponse => true,
            ErrorKind::Authentication
            | ErrorKind::Permission
            | ErrorKind::Quota
            | ErrorKind::InvalidRequest
            | ErrorKind::ContextWindowExceeded
            | ErrorKind::ContentFiltered
            | ErrorKind::ResponseTooLarge
            | ErrorKind::BudgetExceeded
            | ErrorKind::Config
            | ErrorKind::Cancelled
            | ErrorKind::AllAttemptsFailed
            | ErrorKind::Internal => false,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A polyfuse error. Build with [`Error::new`] and the `with_*` setters.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    /// Human-readable, key-free explanation (for provider errors, the provider's own message).
    pub message: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub status: Option<u16>,
    /// How long the provider asked us to wait (retry-after, retry-after-ms, RetryInfo).
    pub retry_after: Option<Duration>,
    /// The provider's request id, when it sent one.
    pub request_id: Option<String>,
    /// The provider's error `code` / `type`, when it sent one (e.g. `insufficient_quota`).
    pub provider_code: Option<String>,
    /// Every attempt made for the call that failed.
    pub attempts: Vec<Attempt>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            provider: None,
            model: None,
            status: None,
            retry_after: None,
            request_id: None,
            provider_code: None,
            attempts: Vec::new(),
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidRequest, message)
    }

    pub fn cancelled() -> Self {
        Error::new(ErrorKind::Cancelled, "the call was cancelled")
    }

    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    pub fn with_provider_code(mut self, code: Option<String>) -> Self {
        self.provider_code = code;
        self
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        let mut ctx = Vec::new();
        if let Some(p) = &self.provider {
            ctx.push(format!("provider={p}"));
        }
        if let Some(m) = &self.model {
            ctx.push(format!("model={m}"));
        }
        if let Some(s) = self.status {
            ctx.push(format!("status={s}"));
        }
        if let Some(r) = self.retry_after {
            ctx.push(format!("retry_after={:.3}s", r.as_secs_f64()));
        }
        if !ctx.is_empty() {
            write!(f, " ({})", ctx.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_with_its_own_class() {
        let names: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        let classes: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|k| k.class_name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert_eq!(classes.len(), ErrorKind::ALL.len());
        for k in ErrorKind::ALL {
            let back: ErrorKind = serde_json::from_value(serde_json::json!(k.as_str())).unwrap();
            assert_eq!(back, k);
            assert!(k.class_name().ends_with("Error"));
        }
    }
}
