//! Per-request behaviour scripts: parsing of the `k=v;k=v` options that a test appends to the
//! model name (`"gpt-4o-mini;ttft_ms=200;chunks=5"`) or sends in the `x-mock` header (which wins,
//! key by key). Provider-agnostic: the wire-format modules decide how a [`Script`] looks on the wire.
//! The option table is in this crate's README.md; keep both in sync.

use std::time::Duration;

/// Name of the request header that carries options.
pub const HEADER: &str = "x-mock";

/// Name of the request header that selects the wire-format flavour (like the `format` option).
pub const FORMAT_HEADER: &str = "x-mock-format";

/// The values of the `format` option.
pub const FORMATS: &[&str] = &["openai", "mistral", "openrouter", "anthropic", "gemini"];

/// A provider-agnostic error the script asks for; each wire format renders its own body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400, generic invalid request.
    InvalidRequest,
    /// 400, the prompt is longer than the context window.
    ContextLengthExceeded,
    /// 400, the prompt was blocked by a content filter.
    ContentFilter,
    /// 401, bad API key.
    InvalidApiKey,
    /// 403, not allowed.
    PermissionDenied,
    /// 404, unknown model.
    ModelNotFound,
    /// 413, request too large.
    RequestTooLarge,
    /// 429, rate limited (retryable).
    RateLimit,
    /// 429, out of credits (NOT retryable).
    InsufficientQuota,
    /// 402, no credits left (OpenRouter; NOT retryable).
    InsufficientCredits,
    /// 500.
    ServerError,
    /// 502 from the provider's edge.
    BadGateway,
    /// 503, overloaded.
    Overloaded,
    /// Any other status, with a generic body.
    Other(u16),
}

impl ErrorKind {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "invalid_request" | "invalid_request_error" => Self::InvalidRequest,
            "context_length_exceeded" | "context_length" => Self::ContextLengthExceeded,
            "content_filter" => Self::ContentFilter,
            "invalid_api_key" | "auth" => Self::InvalidApiKey,
            "permission_denied" | "forbidden" => Self::PermissionDenied,
            "model_not_found" | "not_found" => Self::ModelNotFound,
            "request_too_large" => Self::RequestTooLarge,
            "rate_limit" | "rate_limit_exceeded" => Self::RateLimit,
            "insufficient_quota" => Self::InsufficientQuota,
            "insufficient_credits" | "payment_required" => Self::InsufficientCredits,
            "server_error" => Self::ServerError,
            "bad_gateway" => Self::BadGateway,
            "overloaded" => Self::Overloaded,
            _ => return None,
        })
    }

    /// The kind a bare `status=N` stands for.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => Self::InvalidRequest,
            401 => Self::InvalidApiKey,
            403 => Self::PermissionDenied,
            404 => Self::ModelNotFound,
            413 => Self::RequestTooLarge,
            429 => Self::RateLimit,
            500 => Self::ServerError,
            502 => Self::BadGateway,
            503 => Self::Overloaded,
            other => Self::Other(other),
        }
    }

    /// The HTTP status this kind is sent with unless `status=N` overrides it.
    pub fn default_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::ContextLengthExceeded | Self::ContentFilter => 400,
            Self::InvalidApiKey => 401,
            Self::PermissionDenied => 403,
            Self::ModelNotFound => 404,
            Self::RequestTooLarge => 413,
            Self::InsufficientCredits => 402,
            Self::RateLimit | Self::InsufficientQuota => 429,
            Self::ServerError => 500,
            Self::BadGateway => 502,
            Self::Overloaded => 503,
            Self::Other(status) => status,
        }
    }
}

/// What to do instead of ending a stream normally (`no_done`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoDone {
    /// Send the terminator (`data: [DONE]`) as usual.
    #[default]
    Off,
    /// Omit the terminator, end the HTTP body cleanly.
    Omit,
    /// Omit the terminator and keep the connection open, silent, until the client leaves.
    Hold,
}

/// Whose body shape a scripted error takes (`error_body`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorBody {
    /// The endpoint's own.
    #[default]
    Native,
    /// OpenAI's `{"error":{"message","type","param","code"}}`, as proxies in front of other
    /// providers send it.
    OpenAi,
}

/// How `cut_after` breaks the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutMode {
    /// Plain close (FIN) without the terminating zero-length chunk.
    #[default]
    Fin,
    /// TCP RST.
    Rst,
}

/// The parsed options of one request. Every field is optional; `Script::default()` is a plain,
/// successful answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    pub text: Option<String>,
    pub words: Option<usize>,
    pub latency: Duration,
    pub ttft: Duration,
    pub chunks: Option<usize>,
    pub chunk_delay: Duration,
    /// `keepalive_ms`: send the format's keep-alive event this often during the stream's
    /// `ttft_ms` and `chunk_delay_ms` waits.
    pub keepalive: Option<Duration>,
    /// `json_stream`: answer a streaming request with the complete non-streaming JSON body.
    pub json_stream: bool,
    pub status: Option<u16>,
    pub error: Option<ErrorKind>,
    /// `error_message`: the human message of the scripted error (and of the mid-stream error).
    pub error_message: Option<String>,
    pub error_body: ErrorBody,
    pub retry_after: Option<String>,
    pub retry_after_ms: Option<u64>,
    pub should_retry: Option<bool>,
    pub fail_times: Option<u64>,
    pub key: Option<String>,
    pub reset: bool,
    pub hang: bool,
    pub cut_after: Option<usize>,
    pub cut_mode: CutMode,
    pub stall_after: Option<usize>,
    pub malformed_at: Option<usize>,
    pub no_done: NoDone,
    pub error_after: Option<usize>,
    /// Explicit tool names (`tool_call=a,b`).
    pub tool_call: Option<Vec<String>>,
    /// Call the request's own tools (`tools=1`).
    pub tools: bool,
    pub tool_args: Option<String>,
    pub tool_calls: Option<usize>,
    pub finish: Option<String>,
    /// `refusal=TEXT`: the answer is a refusal (OpenAI-family `message.refusal`) with this text.
    pub refusal: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    /// Prompt tokens written to the cache (Anthropic `cache_creation_input_tokens`, OpenRouter
    /// `cache_write_tokens`).
    pub cache_write_tokens: Option<u64>,
    /// `usage=0`: report no usage at all (no usage fields, chunks or objects).
    pub no_usage: bool,
    /// OpenRouter `usage.cost` in USD.
    pub cost: Option<f64>,
    /// The wire-format flavour (`format=openai|mistral|openrouter|anthropic|gemini`); each
    /// endpoint accepts only the formats it can speak.
    pub format: Option<String>,
}

impl Script {
    /// Parses the options after the first `;` of a model name, then the `x-mock` header value,
    /// whose options override the model's key by key.
    pub fn parse(model_options: &str, header: Option<&str>) -> Result<Script, String> {
        let mut script = Script::default();
        for source in [Some(model_options), header].into_iter().flatten() {
            for part in source.split(';') {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                let (key, value) = match part.split_once('=') {
                    Some((k, v)) => (k.trim(), percent_decode(v.trim())),
                    // A bare flag (`hang`) means `hang=1`.
                    None => (part, "1".to_owned()),
                };
                script.set(key, value)?;
            }
        }
        script.validate()?;
        Ok(script)
    }

    fn set(&mut self, key: &str, value: String) -> Result<(), String> {
        let v = value.as_str();
        match key {
            "text" => self.text = Some(value),
            "words" => self.words = Some(num(key, v)?),
            "latency_ms" => self.latency = ms(key, v)?,
            "ttft_ms" => self.ttft = ms(key, v)?,
            "chunks" => self.chunks = Some(positive(key, v)?),
            "chunk_delay_ms" => self.chunk_delay = ms(key, v)?,
            "keepalive_ms" => {
                self.keepalive = Some(Duration::from_millis(positive(key, v)? as u64))
            }
            "json_stream" => self.json_stream = boolean(key, v)?,
            "status" => {
                let status: u16 = num(key, v)?;
                if !(400..=599).contains(&status) {
                    return Err(format!("mock option `status` must be 400..=599, got {v}"));
                }
                self.status = Some(status);
            }
            "error" => {
                self.error = Some(
                    ErrorKind::from_name(v)
                        .ok_or_else(|| format!("mock option `error`: unknown error `{v}`"))?,
                )
            }
            "error_message" => {
                if v.is_empty() {
                    return Err("mock option `error_message` needs the message text".into());
                }
                self.error_message = Some(value)
            }
            "error_body" => {
                self.error_body = match v {
                    "openai" => ErrorBody::OpenAi,
                    "native" => ErrorBody::Native,
                    _ => {
                        return Err(format!(
                            "mock option `error_body` must be openai|native, got `{v}`"
                        ))
                    }
                }
            }
            "retry_after" => {
                if v.is_empty() {
                    return Err("mock option `retry_after` needs a value".into());
                }
                self.retry_after = Some(value)
            }
            "retry_after_ms" => self.retry_after_ms = Some(num(key, v)?),
            "should_retry" => self.should_retry = Some(boolean(key, v)?),
            "fail_times" => self.fail_times = Some(num(key, v)?),
            "key" => self.key = Some(value),
            "reset" => self.reset = boolean(key, v)?,
            "hang" => self.hang = boolean(key, v)?,
            "cut_after" => self.cut_after = Some(num(key, v)?),
            "cut_mode" => {
                self.cut_mode = match v {
                    "fin" => CutMode::Fin,
                    "rst" => CutMode::Rst,
                    _ => return Err(format!("mock option `cut_mode` must be fin|rst, got `{v}`")),
                }
            }
            "stall_after" => self.stall_after = Some(num(key, v)?),
            "malformed_at" => self.malformed_at = Some(positive(key, v)?),
            "no_done" => {
                self.no_done = match v {
                    "hold" => NoDone::Hold,
                    _ if boolean(key, v)? => NoDone::Omit,
                    _ => NoDone::Off,
                }
            }
            "error_after" => self.error_after = Some(num(key, v)?),
            "tool_call" => {
                let names: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.is_empty() {
                    return Err("mock option `tool_call` needs a tool name".into());
                }
                self.tool_call = Some(names);
            }
            "tools" => self.tools = boolean(key, v)?,
            "tool_args" => self.tool_args = Some(value),
            "tool_calls" => self.tool_calls = Some(positive(key, v)?),
            "finish" | "finish_reason" => self.finish = Some(value),
            "refusal" => {
                if v.is_empty() {
                    return Err("mock option `refusal` needs the refusal text".into());
                }
                self.refusal = Some(value)
            }
            "prompt_tokens" => self.prompt_tokens = Some(num(key, v)?),
            "completion_tokens" => self.completion_tokens = Some(num(key, v)?),
            "cached_tokens" => self.cached_tokens = Some(num(key, v)?),
            "reasoning_tokens" => self.reasoning_tokens = Some(num(key, v)?),
            "cache_write_tokens" => self.cache_write_tokens = Some(num(key, v)?),
            "usage" => self.no_usage = !boolean(key, v)?,
            "cost" => {
                self.cost = Some(
                    v.parse::<f64>()
                        .ok()
                        .filter(|c| c.is_finite() && *c >= 0.0)
                        .ok_or_else(|| {
                            format!("mock option `cost` needs a non-negative number, got `{v}`")
                        })?,
                )
            }
            "format" => {
                if !FORMATS.contains(&v) {
                    return Err(format!(
                        "mock option `format` must be one of {}, got `{v}`",
                        FORMATS.join("|")
                    ));
                }
                self.format = Some(value)
            }
            _ => return Err(format!("unknown mock option `{key}`")),
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        if self.text.is_some() && self.words.is_some() {
            return Err("mock options `text` and `words` are exclusive".into());
        }
        if self.refusal.is_some() {
            let other = [
                ("text", self.text.is_some()),
                ("words", self.words.is_some()),
                ("tool_call", self.tool_call.is_some()),
                ("tools", self.tools),
            ];
            if let Some((name, _)) = other.iter().find(|(_, set)| *set) {
                return Err(format!("mock options `refusal` and `{name}` are exclusive"));
            }
        }
        if self.reset && self.hang {
            return Err("mock options `reset` and `hang` are exclusive".into());
        }
        Ok(())
    }

    /// Whether any fault (error status, reset, hang, stream fault) is scripted.
    pub fn has_fault(&self) -> bool {
        self.status.is_some()
            || self.error.is_some()
            || self.reset
            || self.hang
            || self.has_stream_fault()
    }

    /// Whether a streaming-only fault is scripted.
    pub fn has_stream_fault(&self) -> bool {
        self.cut_after.is_some()
            || self.stall_after.is_some()
            || self.malformed_at.is_some()
            || self.error_after.is_some()
            || self.no_done != NoDone::Off
    }

    /// Drops every fault (and `fail_times`), keeping content, timing and usage options: what a
    /// request past its `fail_times` gets.
    pub fn without_faults(&self) -> Script {
        Script {
            status: None,
            error: None,
            reset: false,
            hang: false,
            cut_after: None,
            stall_after: None,
            malformed_at: None,
            no_done: NoDone::Off,
            error_after: None,
            fail_times: None,
            ..self.clone()
        }
    }

    /// The human message of an error: `error_message` if scripted, else the format's `default`.
    pub fn error_text<'a>(&'a self, default: &'a str) -> &'a str {
        self.error_message.as_deref().unwrap_or(default)
    }

    /// The error response to send, if any: `error=` names the body, `status=` the HTTP status
    /// (each defaults from the other), and `fail_times` alone means 500.
    pub fn error_response(&self) -> Option<(u16, ErrorKind)> {
        self.error_response_with(ErrorKind::default_status)
    }

    /// [`Script::error_response`] with a wire format's own default status per kind (e.g.
    /// Anthropic's overloaded is a 529, OpenRouter's out-of-credits a 402).
    pub fn error_response_with(
        &self,
        default_status: impl Fn(ErrorKind) -> u16,
    ) -> Option<(u16, ErrorKind)> {
        match (self.status, self.error) {
            (Some(status), Some(kind)) => Some((status, kind)),
            (Some(status), None) => Some((status, ErrorKind::from_status(status))),
            (None, Some(kind)) => Some((default_status(kind), kind)),
            (None, None) if self.fail_times.is_some() && !self.has_fault() => {
                Some((500, ErrorKind::ServerError))
            }
            (None, None) => None,
        }
    }
}

/// The value of the `format` option in a model's options or the `x-mock` header (the header wins),
/// read before the full parse so that even auth errors can take the right wire format. Unknown
/// values are ignored here; the full parse rejects them.
pub fn peek_format(model_options: &str, header: Option<&str>) -> Option<String> {
    let mut found = None;
    for source in [Some(model_options), header].into_iter().flatten() {
        for part in source.split(';') {
            if let Some((k, v)) = part.split_once('=') {
                let v = percent_decode(v.trim());
                if k.trim() == "format" && FORMATS.contains(&v.as_str()) {
                    found = Some(v);
                }
            }
        }
    }
    found
}

/// Splits `"gpt-4o-mini;ttft_ms=200"` into the model name echoed back and its options.
pub fn split_model(model: &str) -> (&str, &str) {
    model.split_once(';').unwrap_or((model, ""))
}

/// URL-style `%XX` decoding (so values can carry `%20` and `%3B`); `+` stays a plus.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("mock option `{key}` needs a non-negative integer, got `{v}`"))
}

fn positive(key: &str, v: &str) -> Result<usize, String> {
    match num::<usize>(key, v)? {
        0 => Err(format!("mock option `{key}` must be at least 1")),
        n => Ok(n),
    }
}

fn ms(key: &str, v: &str) -> Result<Duration, String> {
    num::<u64>(key, v).map(Duration::from_millis)
}

fn boolean(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "mock option `{key}` needs 1|0|true|false, got `{v}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_options_and_header_merge_key_by_key() {
        let (base, opts) = split_model("gpt-4o-mini;ttft_ms=200;chunks=5");
        assert_eq!(base, "gpt-4o-mini");
        let s = Script::parse(opts, Some("chunks=7; text=a%20b%3Bc")).unwrap();
        assert_eq!(s.ttft, Duration::from_millis(200));
        assert_eq!(s.chunks, Some(7));
        assert_eq!(s.text.as_deref(), Some("a b;c"));
    }

    #[test]
    fn flags_errors_and_validation() {
        let s = Script::parse("hang", None).unwrap();
        assert!(s.hang);
        assert!(Script::parse("nope=1", None).unwrap_err().contains("nope"));
        assert!(Script::parse("status=200", None).is_err());
        assert!(Script::parse("chunks=0", None).is_err());
        assert!(Script::parse("error=bogus", None).is_err());
        let s = Script::parse("error=insufficient_quota", None).unwrap();
        assert_eq!(
            s.error_response(),
            Some((429, ErrorKind::InsufficientQuota))
        );
        let s = Script::parse("fail_times=2", None).unwrap();
        assert_eq!(s.error_response(), Some((500, ErrorKind::ServerError)));
        let s = Script::parse("fail_times=2;reset=1", None).unwrap();
        assert_eq!(s.error_response(), None);
        assert_eq!(s.without_faults(), Script::default());
        assert_eq!(s.without_faults().error_response(), None);
        assert_eq!(
            Script::parse("no_done=hold", None).unwrap().no_done,
            NoDone::Hold
        );
        assert_eq!(
            Script::parse("no_done=1", None).unwrap().no_done,
            NoDone::Omit
        );
    }

    #[test]
    fn response_shape_options() {
        let s = Script::parse(
            "keepalive_ms=15;json_stream;refusal=No%20way;error_message=a%3Bb;error_body=openai;usage=0",
            None,
        )
        .unwrap();
        assert_eq!(s.keepalive, Some(Duration::from_millis(15)));
        assert!(s.json_stream && s.no_usage);
        assert_eq!(s.refusal.as_deref(), Some("No way"));
        assert_eq!(s.error_text("default"), "a;b");
        assert_eq!(s.error_body, ErrorBody::OpenAi);
        // None of them is a fault: they survive `fail_times`.
        assert!(!s.has_fault());
        assert_eq!(s.without_faults(), s);
        assert_eq!(Script::default().error_text("default"), "default");
        assert!(!Script::parse("usage=1", None).unwrap().no_usage);
        for bad in [
            "keepalive_ms=0",
            "json_stream=2",
            "refusal=",
            "refusal=x;text=y",
            "error_message=",
            "error_body=anthropic",
            "usage=some",
        ] {
            let e = Script::parse(bad, None).unwrap_err();
            let key = bad.split(['=', ';']).next().unwrap();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("caf%C3%A9+x"), "café+x");
    }
}
