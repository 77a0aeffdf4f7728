//! HTTP plumbing shared by every wire format: the pooled reqwest client (one per polyfuse
//! Client), the provider's [`Scope`] (name and key, for tagging and scrubbing errors), posting a
//! JSON body, headers from the config, reading retry hints and request ids from headers,
//! classifying HTTP statuses and transport errors, and one SSE read step under the idle deadline.
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Policy, ProviderConfig};
use crate::redact::redact;
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

/// The provider's wait hint: `retry-after-ms`, then `retry-after` (seconds or an HTTP date).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
    {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
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
    pub api_key: Option<String>,
}

impl Scope {
    /// Scrubs the key out of the message and names the provider and model.
    pub(crate) fn tag(&self, mut e: Error, model: &str) -> Error {
        if let Some(k) = &self.api_key {
            e.message = redact(&e.message, k);
        }
        e.with_provider(&self.name)
            .with_model(format!("{}/{}", self.name, model))
    }
}

/// One step of reading a provider's SSE body under the stream-idle deadline (shared by the
/// Anthropic and Gemini formats).
pub(crate) enum SseStep {
    Event(crate::providers::sse::SseEvent),
    /// The body ended.
    End,
    /// Stalled or cut: the error to end the stream with.
    Failed(Error),
}

pub(crate) async fn next_sse<S>(
    events: &mut S,
    idle: Duration,
    scope: &Scope,
    model: &str,
    chunks: usize,
) -> SseStep
where
    S: futures_util::Stream<
            Item = std::result::Result<crate::providers::sse::SseEvent, reqwest::Error>,
        > + Unpin,
{
    match tokio::time::timeout(idle, events.next()).await {
        Err(_) => SseStep::Failed(scope.tag(
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "the stream stalled: no data for {:.1}s after {chunks} chunks",
                    idle.as_secs_f64()
                ),
            ),
            model,
        )),
        Ok(Some(Ok(ev))) => SseStep::Event(ev),
        Ok(Some(Err(e))) => {
            let mut err = scope.tag(transport_error(&e), model);
            err.kind = ErrorKind::Connection;
            err.message = format!("the stream was cut after {chunks} chunks: {}", err.message);
            SseStep::Failed(err)
        }
        Ok(None) => SseStep::End,
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
    let body = resp.bytes().await.unwrap_or_default().to_vec();
    Ok(Err(HttpFailure {
        status,
        headers,
        body,
    }))
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
