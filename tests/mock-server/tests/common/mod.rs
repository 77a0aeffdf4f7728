//! Test helpers: a tiny raw HTTP/1.1 client over tokio `TcpStream` (keep-alive, Content-Length and
//! chunked bodies, chunk-by-chunk reads for stream timing and truncation), SSE splitting, and a
//! bounded poll for stats.

#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const KEY: &str = "sk-test-123";

/// Status line and headers of a response.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding") == Some("chunked")
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
    /// The HTTP chunks as received (chunked responses only).
    pub chunks: Vec<Vec<u8>>,
    /// Whether the body ended properly (terminating chunk / full Content-Length).
    pub complete: bool,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `data:` payloads of the SSE body, in order.
    pub fn events(&self) -> Vec<String> {
        sse_data(&self.text())
    }
}

/// `data:` payloads of an SSE text (events separated by a blank line).
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// One client connection.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes a request with a Content-Length body.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: mock\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes).await
    }

    /// Writes a completions request with the test key and JSON `body`.
    pub async fn send_completion(&mut self, body: &Value, extra: &[(&str, &str)]) {
        let auth = format!("Bearer {KEY}");
        let mut headers = vec![
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        self.send(
            "POST",
            "/v1/chat/completions",
            &headers,
            body.to_string().as_bytes(),
        )
        .await
        .expect("send");
    }

    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(16 * 1024);
        self.stream.read_buf(&mut self.buf).await
    }

    async fn line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
                self.buf.drain(..pos + 2);
                return Ok(Some(line));
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads the status line and headers; `Err` if the connection ended (or was reset) first.
    pub async fn read_head(&mut self) -> io::Result<Head> {
        let status_line = self
            .line()
            .await?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self
                .line()
                .await?
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').expect("header line");
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        Ok(Head { status, headers })
    }

    /// Reads the next HTTP chunk: `Ok(Some(data))`, `Ok(None)` at the terminating chunk,
    /// `Err` if the connection ends (or is reset) first.
    pub async fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let eof = || io::Error::from(io::ErrorKind::UnexpectedEof);
        let size_line = self.line().await?.ok_or_else(eof)?;
        let size = usize::from_str_radix(size_line.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_line:?}"));
        if size == 0 {
            self.line().await?.ok_or_else(eof)?; // final CRLF
            return Ok(None);
        }
        while self.buf.len() < size + 2 {
            if self.fill().await? == 0 {
                return Err(eof());
            }
        }
        let data = self.buf[..size].to_vec();
        assert_eq!(
            &self.buf[size..size + 2],
            b"\r\n",
            "chunk not followed by CRLF"
        );
        self.buf.drain(..size + 2);
        Ok(Some(data))
    }

    /// Reads a whole response body after `head`; a body cut short gives `complete: false`.
    pub async fn read_body(&mut self, head: Head) -> Response {
        let mut response = Response {
            head,
            body: Vec::new(),
            chunks: Vec::new(),
            complete: false,
        };
        if response.head.is_chunked() {
            loop {
                match self.next_chunk().await {
                    Ok(Some(chunk)) => {
                        response.body.extend_from_slice(&chunk);
                        response.chunks.push(chunk);
                    }
                    Ok(None) => {
                        response.complete = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
        } else {
            let len: usize = response
                .head
                .header("content-length")
                .expect("content-length")
                .parse()
                .unwrap();
            while self.buf.len() < len {
                match self.fill().await {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            let n = len.min(self.buf.len());
            response.body = self.buf.drain(..n).collect();
            response.complete = n == len;
        }
        response
    }

    pub async fn read_response(&mut self) -> Response {
        let head = self.read_head().await.expect("response head");
        self.read_body(head).await
    }

    /// Reads until the server closes: `Ok(bytes)` on EOF, `Err` on a reset.
    pub async fn read_to_close(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = std::mem::take(&mut self.buf);
        self.stream.read_to_end(&mut rest).await?;
        Ok(rest)
    }
}

/// One completions request on a fresh connection.
pub async fn completion(addr: SocketAddr, body: Value) -> Response {
    completion_with(addr, body, &[]).await
}

/// One completions request on a fresh connection, with extra headers.
pub async fn completion_with(addr: SocketAddr, body: Value, extra: &[(&str, &str)]) -> Response {
    let mut client = Client::connect(addr).await;
    client.send_completion(&body, extra).await;
    client.read_response().await
}

/// A GET on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str) -> Response {
    let mut client = Client::connect(addr).await;
    client.send("GET", path, &[], b"").await.unwrap();
    client.read_response().await
}

/// A simple chat request body.
pub fn chat(model: &str, user: &str) -> Value {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": user}],
    })
}

/// A streaming chat request body.
pub fn chat_stream(model: &str, user: &str, include_usage: bool) -> Value {
    let mut body = chat(model, user);
    body["stream"] = Value::Bool(true);
    if include_usage {
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    body
}

/// Polls `check` every 5 ms for up to 10 s (a bound for loaded machines, not an expected wait);
/// panics with `what` if it never holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Parses every event but `[DONE]` as JSON.
pub fn chunks_json(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.as_str() != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap_or_else(|err| panic!("bad chunk {e}: {err}")))
        .collect()
}

/// Concatenated `delta.content` of chunk events.
pub fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

/// A POST with a JSON body and the given headers on a fresh connection.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Response {
    let mut client = Client::connect(addr).await;
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    client
        .send("POST", path, &all, body.to_string().as_bytes())
        .await
        .expect("send");
    client.read_response().await
}

/// The events of an SSE text whose events are separated by `sep` (`"\n\n"` or `"\r\n\r\n"`), as
/// `(event name or "", data)`; comment-only events (`: …`) come as `(":", comment)`.
pub fn sse_events(text: &str, sep: &str) -> Vec<(String, String)> {
    text.split(sep)
        .filter(|e| !e.is_empty())
        .map(|event| {
            let mut name = String::new();
            let mut data = Vec::new();
            let mut comment = None;
            for line in event.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v.to_owned());
                } else if let Some(v) = line.strip_prefix(':') {
                    comment = Some(v.trim().to_owned());
                }
            }
            match comment {
                Some(c) if data.is_empty() => (":".to_owned(), c),
                _ => (name, data.join("\n")),
            }
        })
        .collect()
}

/// The five wire formats, for tests that run one script against every endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Mistral,
    OpenRouter,
    Anthropic,
    Gemini,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::OpenAi,
        Format::Mistral,
        Format::OpenRouter,
        Format::Anthropic,
        Format::Gemini,
    ];

    /// The request path, the headers (auth, and the flavour for Mistral) and the JSON body asking
    /// `model` (options included) about `user`, streaming or not. Gemini streams with `alt=sse`;
    /// OpenAI-like streams ask for usage (`stream_options` except on Mistral, which rejects it).
    pub fn request(
        self,
        model: &str,
        user: &str,
        stream: bool,
    ) -> (String, Vec<(&'static str, &'static str)>, Value) {
        let bearer = ("authorization", "Bearer sk-test-123");
        match self {
            Format::OpenAi | Format::Mistral | Format::OpenRouter => {
                let usage = stream && self != Format::Mistral;
                let body = if stream {
                    chat_stream(model, user, usage)
                } else {
                    chat(model, user)
                };
                let (path, headers) = match self {
                    Format::OpenAi => ("/v1/chat/completions", vec![bearer]),
                    Format::Mistral => (
                        "/v1/chat/completions",
                        vec![bearer, ("x-mock-format", "mistral")],
                    ),
                    _ => ("/api/v1/chat/completions", vec![bearer]),
                };
                (path.to_owned(), headers, body)
            }
            Format::Anthropic => {
                let mut body = serde_json::json!({"model": model, "max_tokens": 256,
                    "messages": [{"role": "user", "content": user}]});
                if stream {
                    body["stream"] = Value::Bool(true);
                }
                let headers = vec![
                    ("x-api-key", "sk-ant-test"),
                    ("anthropic-version", "2023-06-01"),
                ];
                ("/v1/messages".to_owned(), headers, body)
            }
            Format::Gemini => {
                // Encoded as a client would: the server decodes the segment once, then the options.
                let segment = model
                    .replace('%', "%25")
                    .replace(';', "%3B")
                    .replace('=', "%3D");
                let path = if stream {
                    format!("/v1beta/models/{segment}:streamGenerateContent?alt=sse")
                } else {
                    format!("/v1beta/models/{segment}:generateContent")
                };
                let body =
                    serde_json::json!({"contents": [{"role": "user", "parts": [{"text": user}]}]});
                (path, vec![("x-goog-api-key", "AIza-test")], body)
            }
        }
    }

    /// One request on a fresh connection, read to its end.
    pub async fn call(self, addr: SocketAddr, model: &str, stream: bool) -> Response {
        self.send(addr, model, stream).await.read_response().await
    }

    /// Sends the request on a new connection and returns the client (to read the response
    /// piece by piece).
    pub async fn send(self, addr: SocketAddr, model: &str, stream: bool) -> Client {
        let (path, headers, body) = self.request(model, "q", stream);
        let mut client = Client::connect(addr).await;
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(&headers);
        client
            .send("POST", &path, &all, body.to_string().as_bytes())
            .await
            .expect("send");
        client
    }

    /// How the format separates SSE events.
    pub fn separator(self) -> &'static str {
        match self {
            Format::Gemini => "\r\n\r\n",
            _ => "\n\n",
        }
    }
}
