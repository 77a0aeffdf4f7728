//! HTTP plumbing shared by every wire format: the pooled reqwest client (one per polyfuse
//! Client), the provider's [`Scope`] (name and key, for tagging and scrubbing errors), posting a
//! JSON body, headers from the config, reading retry hints and request ids from headers,
//! and classifying HTTP statuses and transport errors.
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Limits, Policy, ProviderConfig};
use crate::redact::Secrets;
use crate::types::error::{Error, ErrorKind, Result};

/// Builds the one HTTP client a polyfuse Client shares across all calls and providers:
/// rustls (ring), connection pooling with HTTP/1.1 keep-alive, HTTP/2 where the server offers it.
pub(crate) fn build_http_client(policy: &Policy) -> Result<reqwest::Client> {
    // Process-wide crypto provider for rustls; a second install (another Client) is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(policy.connect_timeout_ms))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(30))
        .user_agent(concat!("polyfuse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::config(format!("could not build the HTTP client: {e}")))
}

/// The longest wait a provider's hint is read as (a larger one is capped: the retry policy
/// falls back instead of sleeping that long anyway).
pub(crate) const MAX_HINT: Duration = Duration::from_secs(24 * 3600);

/// A wait of `secs` seconds, for any number a provider may send: negative, NaN and infinite
/// values are no hint; huge ones are capped at [`MAX_HINT`] (never a panic).
pub(crate) fn hint_from_secs(secs: f64) -> Option<Duration> {
    if !(secs.is_finite() && secs >= 0.0) {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).map_or(MAX_HINT, |d| d.min(MAX_HINT)))
}

/// The provider's wait hint: `retry-after-ms`, then `retry-after` (seconds or an HTTP date).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
    {
        if let Some(d) = hint_from_secs(ms / 1000.0) {
            return Some(d);
        }
    }
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return hint_from_secs(secs);
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_HINT),
    )
}

/// `x-should-retry: true|false`, when the provider says.
pub(crate) fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-request-id", "request-id", "x-goog-request-id"]
        .iter()
        .find_map(|h| {
            headers
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        })
}

/// The meaning of an HTTP error status before the body is read.
pub(crate) fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 | 404 | 405 | 409 | 415 | 422 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Authentication,
        402 => ErrorKind::Quota,
        403 => ErrorKind::Permission,
        408 | 504 => ErrorKind::Timeout,
        413 => ErrorKind::ContextWindowExceeded,
        429 => ErrorKind::RateLimited,
        503 | 529 => ErrorKind::Overloaded,
        s if s >= 500 => ErrorKind::Server,
        _ => ErrorKind::InvalidResponse,
    }
}

/// What a wire format read from an error body.
pub(crate) struct ErrorReading {
    pub kind: ErrorKind,
    pub message: String,
    /// The provider's error code / type (e.g. `insufficient_quota`).
    pub code: Option<String>,
    /// A retry delay given in the body (Gemini's `RetryInfo`).
    pub retry_after: Option<Duration>,
}

/// A format's reader of error bodies: `None` when the body is not in its shape.
pub(crate) type ReadError = fn(&[u8], ErrorKind) -> Option<ErrorReading>;

/// Turns a non-2xx answer into a classified error, the same way for every format: the format's
/// own reading of the body, else an OpenAI-shaped body (proxies put one in front of any
/// endpoint), else the status and an excerpt of the body; then the message's meaning
/// (context window, content filter), `x-should-retry`, the retry hints, the request id, and the
/// provider's name and key scrubbed out.
pub(crate) fn http_error(scope: &Scope, f: &HttpFailure, model: &str, read: ReadError) -> Error {
    let by_status = kind_for_status(f.status);
    let reading = read(&f.body, by_status)
        .or_else(|| super::openai::read_error(&f.body, by_status))
        .unwrap_or_else(|| {
            let snippet: String = String::from_utf8_lossy(&f.body).chars().take(300).collect();
            ErrorReading {
                kind: by_status,
                message: format!("HTTP {} from provider: {snippet}", f.status),
                code: None,
                retry_after: None,
            }
        });
    let mut kind = refine_by_message(reading.kind, &reading.message);
    if should_retry(&f.headers) == Some(false) && kind.is_retryable() {
        kind = ErrorKind::InvalidRequest;
    }
    let e = Error::new(kind, reading.message)
        .with_status(f.status)
        .with_retry_after(retry_after(&f.headers).or(reading.retry_after))
        .with_request_id(request_id(&f.headers))
        .with_provider_code(reading.code);
    scope.tag(e, model)
}

/// Phrases of a rejected request whose prompt does not fit the model's window, as servers and
/// proxies word it (OpenAI, Anthropic, Gemini, Mistral, vLLM, LiteLLM-style proxies).
const CONTEXT_WINDOW: &[&str] = &[
    "contextwindowexceedederror",
    "context window exceeded",
    "context_window_exceeded",
    "context_length_exceeded",
    "maximum context length",
    "exceeds the context window",
    "context length",
    "prompt is too long",
    "input is too long",
    "exceeds the maximum number of tokens",
    "too many tokens in the prompt",
];

/// Phrases of a request or answer refused by a content filter or policy.
const CONTENT_FILTER: &[&str] = &[
    "content_filter",
    "content filter",
    "content policy",
    "content_policy",
    "content management policy",
    "responsibleaipolicyviolation",
    "safety system",
];

/// Refines the kind of a rejected request (or of a generic failure) by what its message says:
/// a 400 `invalid_request_error` whose message says the context window was exceeded, or that a
/// content policy refused it, has that meaning in every format. Other kinds are kept.
pub(crate) fn refine_by_message(kind: ErrorKind, message: &str) -> ErrorKind {
    if !matches!(
        kind,
        ErrorKind::InvalidRequest | ErrorKind::Server | ErrorKind::InvalidResponse
    ) {
        return kind;
    }
    let m = message.to_ascii_lowercase();
    if CONTEXT_WINDOW.iter().any(|p| m.contains(p)) {
        ErrorKind::ContextWindowExceeded
    } else if CONTENT_FILTER.iter().any(|p| m.contains(p)) {
        ErrorKind::ContentFiltered
    } else {
        kind
    }
}

/// Maps a transport error (connect, reset, body read) to a polyfuse error.
pub(crate) fn transport_error(e: &reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    };
    // Without the URL: it may carry a key in its query string.
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    Error::new(kind, msg)
}

/// A non-2xx HTTP answer, read in full.
pub(crate) struct HttpFailure {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The provider's name and key: what every error it produces is tagged and scrubbed with.
pub(crate) struct Scope {
    pub name: String,
    /// The key and the credential header values: scrubbed from every string of an error.
    pub secrets: Secrets,
    /// How much the provider may send.
    pub limits: Limits,
}

impl Scope {
    pub(crate) fn new(name: &str, pc: &ProviderConfig) -> Scope {
        Scope {
            name: name.to_string(),
            secrets: Secrets::of(pc.api_key.as_ref().map(|k| k.expose()), pc.headers.iter()),
            limits: pc.limits,
        }
    }

    /// Scrubs the secrets out of every string of the error (message, provider code, request id),
    /// cuts the message to `policy.limits.max_message_chars`, and names the provider and model.
    pub(crate) fn tag(&self, mut e: Error, model: &str) -> Error {
        e.message = excerpt(
            &self.secrets.scrub(&e.message),
            self.limits.max_message_chars,
        );
        e.provider_code = self.secrets.scrub_opt(e.provider_code.take());
        e.request_id = self.secrets.scrub_opt(e.request_id.take());
        e.with_provider(&self.name)
            .with_model(format!("{}/{}", self.name, model))
    }
}

/// The first `max` characters of `text`, with a note of how much was left out.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!(
            "{}… ({} more characters)",
            &text[..cut],
            text[cut..].chars().count()
        ),
        None => text.to_string(),
    }
}

/// Adds the provider's headers (config `headers`) to `headers`, naming the key on error.
pub(crate) fn extra_headers(
    name: &str,
    pc: &ProviderConfig,
    headers: &mut HeaderMap,
) -> Result<()> {
    for (k, v) in &pc.headers {
        let hn = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            Error::config(format!(
                "config key `providers.{name}.headers.{k}`: not a valid header name"
            ))
        })?;
        let hv = HeaderValue::from_str(v).map_err(|_| {
            Error::config(format!(
                "config key `providers.{name}.headers.{k}`: not a valid header value"
            ))
        })?;
        headers.insert(hn, hv);
    }
    Ok(())
}

/// A header carrying the bare API key, marked sensitive so it is never logged.
pub(crate) fn key_header(
    name: &str,
    header: &'static str,
    key: &str,
    headers: &mut HeaderMap,
) -> Result<()> {
    let mut hv = HeaderValue::from_str(key).map_err(|_| {
        Error::config(format!(
            "config key `providers.{name}.api_key`: contains characters not allowed in a header"
        ))
    })?;
    hv.set_sensitive(true);
    headers.insert(HeaderName::from_static(header), hv);
    Ok(())
}

/// POSTs a JSON body; a non-2xx answer comes back read in full for the caller to classify.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
    scope: &Scope,
    model: &str,
) -> Result<std::result::Result<reqwest::Response, HttpFailure>> {
    let resp = http
        .post(url)
        .headers(headers.clone())
        .body(body)
        .send()
        .await
        .map_err(|e| scope.tag(transport_error(&e), model))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(Ok(resp));
    }
    let headers = resp.headers().clone();
    // At most `max_error_body_bytes` of an error body is read: enough to classify it; the rest
    // is never buffered (the connection is dropped instead of drained).
    let limit = usize::try_from(scope.limits.max_error_body_bytes).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    let mut chunks = resp.bytes_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(Err(HttpFailure {
        status,
        headers,
        body,
    }))
}

/// Percent-encodes a URL path segment (a model name in Gemini's `models/{model}:...`): unreserved
/// characters stay, everything else (`/`, `?`, `#`, `%`, `:`, spaces, ...) is escaped, so a model
/// name can never change the URL's path or query.
pub(crate) fn encode_path(s: &str) -> String {
    encode(s)
}

/// Percent-encodes a query component.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn failure(status: u16, body: &str) -> HttpFailure {
        HttpFailure {
            status,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn every_format_reads_what_servers_really_send() {
        use crate::providers::{anthropic, gemini, mistral, openai};
        let scope = Scope::new(
            "p",
            &ProviderConfig {
                api_key: Some(crate::config::Secret::new("sk-secret-key-123")),
                ..ProviderConfig::default()
            },
        );
        let readers: [(&str, ReadError); 4] = [
            ("openai", openai::read_error),
            ("anthropic", anthropic::read_error),
            ("gemini", gemini::read_error),
            ("mistral", mistral::read_error),
        ];
        // An OpenAI-shaped body (a proxy in front of any endpoint) is read for its message and
        // code; a generic invalid_request_error whose message names the context window is one.
        let proxy = r#"{"error":{"message":"litellm.ContextWindowExceededError: prompt is 210000 tokens","type":"invalid_request_error","param":null,"code":"bad_request"}}"#;
        let filter = r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"400"}}"#;
        for (name, read) in readers {
            let e = http_error(&scope, &failure(400, proxy), "m", read);
            assert_eq!(
                e.kind,
                ErrorKind::ContextWindowExceeded,
                "{name}: {}",
                e.message
            );
            assert!(e.message.contains("ContextWindowExceededError"), "{name}");
            assert_eq!(e.provider_code.as_deref(), Some("bad_request"), "{name}");
            let e = http_error(&scope, &failure(400, filter), "m", read);
            assert_eq!(e.kind, ErrorKind::ContentFiltered, "{name}: {}", e.message);
            // Unreadable bodies keep the status's meaning and an excerpt.
            let e = http_error(
                &scope,
                &failure(503, "<html>upstream sk-secret-key-123 down</html>"),
                "m",
                read,
            );
            assert_eq!(e.kind, ErrorKind::Overloaded, "{name}");
            assert!(
                e.message.contains("upstream") && !e.message.contains("sk-secret-key-123"),
                "{name}: {}",
                e.message
            );
        }
        // Native bodies whose message says it (Anthropic, Gemini, Mistral wording).
        let e = http_error(
            &scope,
            &failure(
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit"}}"#,
            ),
            "m",
            anthropic::read_error,
        );
        assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
        let e = http_error(
            &scope,
            &failure(
                400,
                r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#,
            ),
            "m",
            gemini::read_error,
        );
        assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
        let e = http_error(
            &scope,
            &failure(
                400,
                r#"{"object":"error","message":"Prompt contains 40000 tokens, too large for model with 32768 maximum context length","type":"invalid_request_error","param":null,"code":null}"#,
            ),
            "m",
            mistral::read_error,
        );
        assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
    }

    #[test]
    fn messages_refine_rejected_requests_only() {
        use ErrorKind::*;
        for m in [
            "litellm.ContextWindowExceededError: prompt has 210000 tokens",
            "This model's maximum context length is 8192 tokens",
            "Request failed: context window exceeded",
            "prompt is too long: 210000 tokens > 200000 maximum",
        ] {
            assert_eq!(
                refine_by_message(InvalidRequest, m),
                ContextWindowExceeded,
                "{m}"
            );
        }
        for m in [
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            "Your request was rejected as a result of our safety system (content_filter)",
            "blocked by content policy",
        ] {
            assert_eq!(refine_by_message(InvalidRequest, m), ContentFiltered, "{m}");
        }
        assert_eq!(
            refine_by_message(InvalidRequest, "max_tokens is too large"),
            InvalidRequest
        );
        assert_eq!(
            refine_by_message(
                RateLimited,
                "Rate limit reached: too many tokens in the prompt"
            ),
            RateLimited
        );
    }

    #[test]
    fn absurd_hints_never_panic() {
        let mut h = HeaderMap::new();
        for v in [
            "1e20",
            "1e308",
            "inf",
            "NaN",
            "-5",
            "99999999999999999999999",
        ] {
            h.insert("retry-after", HeaderValue::from_str(v).unwrap());
            let d = retry_after(&h);
            assert!(d.is_none() || d == Some(MAX_HINT), "{v}: {d:?}");
        }
        h.insert("retry-after", HeaderValue::from_static("1e20"));
        assert_eq!(retry_after(&h), Some(MAX_HINT));
        h.insert("retry-after-ms", HeaderValue::from_static("1e300"));
        assert_eq!(retry_after(&h), Some(MAX_HINT));
        assert_eq!(hint_from_secs(f64::MAX), Some(MAX_HINT));
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = HeaderMap::new();
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        h.insert("retry-after", HeaderValue::from_str(&future).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(27) && d <= Duration::from_secs(30),
            "{d:?}"
        );
    }
}
