//! A minimal HTTP/1.1 server on a tokio `TcpListener`, hand-written (with `httparse`) so that every
//! fault is under control: keep-alive, request bodies by `Content-Length` or chunked, responses
//! with `Content-Length` or chunked (one HTTP chunk per write), waits that watch the socket for the
//! client going away, and closes with FIN or RST. Routing lives in `router.rs`.

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::router;
use crate::State;

/// Largest request head accepted (431 beyond).
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted (413 beyond).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 128;
/// While waiting for the client to go away, bytes it sends (a pipelined request) are buffered up
/// to this much; past it the server stops reading.
const MAX_READ_AHEAD: usize = 1024 * 1024;

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The query string, without `?` (empty when there is none).
    pub query: String,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the client allows another request on this connection.
    pub keep_alive: bool,
}

impl Request {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The client closed or reset the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection failed or ended mid-request.
    Io(io::Error),
    /// The request is not acceptable: answer with this status and close.
    Malformed(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// What the connection loop does after a handler returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next request (if the client wants keep-alive).
    KeepAlive,
    /// Close the connection (gracefully, or with RST if [`Conn::arm_reset`] was called).
    Close,
}

/// One accepted TCP connection with its read-ahead buffer.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    /// Set once a read saw EOF or an error: the client is gone.
    gone: bool,
    /// A response was started but not finished: the connection cannot carry another request.
    broken: bool,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            gone: false,
            broken: false,
        }
    }

    async fn fill(&mut self) -> io::Result<usize> {
        if self.gone {
            return Ok(0);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => {
                self.gone = true;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                self.gone = true;
                Err(e)
            }
        }
    }

    async fn fill_or_eof(&mut self) -> Result<(), ReadError> {
        if self.fill().await? == 0 {
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }

    /// Reads the next request; `Ok(None)` when the client closed the connection between requests.
    pub async fn read_request(&mut self) -> Result<Option<Request>, ReadError> {
        let (mut request, body_kind, expect_continue) = loop {
            if !self.buf.is_empty() {
                if let Some(head) = self.parse_head()? {
                    break head;
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(ReadError::Malformed(431, "request head too large"));
                }
            }
            if self.fill().await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        };
        if expect_continue && self.buf.is_empty() && body_kind != BodyKind::Empty {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        request.body = match body_kind {
            BodyKind::Empty => Vec::new(),
            BodyKind::Length(n) => {
                while self.buf.len() < n {
                    self.fill_or_eof().await?;
                }
                self.buf.split_to(n).to_vec()
            }
            BodyKind::Chunked => self.read_chunked_body().await?,
        };
        Ok(Some(request))
    }

    fn parse_head(&mut self) -> Result<Option<(Request, BodyKind, bool)>, ReadError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        let head_len = match parsed.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ReadError::Malformed(431, "too many headers"))
            }
            Err(_) => return Err(ReadError::Malformed(400, "malformed request")),
        };
        let target = parsed.path.unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).trim().to_owned(),
                )
            })
            .collect();
        let mut request = Request {
            method: parsed.method.unwrap_or("GET").to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: Vec::new(),
            keep_alive: parsed.version == Some(1),
        };
        self.buf.advance(head_len);

        let mut body_kind = BodyKind::Empty;
        let mut expect_continue = false;
        for (name, value) in &request.headers {
            match name.as_str() {
                "connection" => {
                    let v = value.to_ascii_lowercase();
                    if v.split(',').any(|t| t.trim() == "close") {
                        request.keep_alive = false;
                    } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                        request.keep_alive = true;
                    }
                }
                "transfer-encoding" if value.to_ascii_lowercase().contains("chunked") => {
                    body_kind = BodyKind::Chunked;
                }
                "content-length" if body_kind != BodyKind::Chunked => {
                    let n: usize = value
                        .parse()
                        .map_err(|_| ReadError::Malformed(400, "invalid content-length"))?;
                    if n > MAX_BODY {
                        return Err(ReadError::Malformed(413, "request body too large"));
                    }
                    if n > 0 {
                        body_kind = BodyKind::Length(n);
                    }
                }
                "expect" => expect_continue = value.eq_ignore_ascii_case("100-continue"),
                _ => {}
            }
        }
        Ok(Some((request, body_kind, expect_continue)))
    }

    async fn read_chunked_body(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let (line_len, size) = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete((n, size))) => break (n, size as usize),
                    Ok(httparse::Status::Partial) => self.fill_or_eof().await?,
                    Err(_) => return Err(ReadError::Malformed(400, "invalid chunk size")),
                }
            };
            if size == 0 {
                self.buf.advance(line_len);
                // Optional trailer fields, then an empty line.
                loop {
                    if self.buf.starts_with(b"\r\n") {
                        self.buf.advance(2);
                        return Ok(body);
                    }
                    if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                        self.buf.advance(end + 4);
                        return Ok(body);
                    }
                    if self.buf.len() > MAX_HEAD {
                        return Err(ReadError::Malformed(400, "chunked trailer too large"));
                    }
                    self.fill_or_eof().await?;
                }
            }
            if body.len() + size > MAX_BODY {
                return Err(ReadError::Malformed(413, "request body too large"));
            }
            while self.buf.len() < line_len + size + 2 {
                self.fill_or_eof().await?;
            }
            self.buf.advance(line_len);
            body.extend_from_slice(&self.buf[..size]);
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(ReadError::Malformed(400, "chunk not followed by CRLF"));
            }
            self.buf.advance(size + 2);
        }
    }

    /// Reads (and buffers) until the client closes or resets the connection.
    async fn watch(&mut self) -> Gone {
        loop {
            if self.gone {
                return Gone;
            }
            if self.buf.len() >= MAX_READ_AHEAD {
                std::future::pending::<()>().await;
            }
            // `read_buf` is cancel safe: when the sleep wins, nothing was lost.
            if !matches!(self.fill().await, Ok(n) if n > 0) {
                return Gone;
            }
        }
    }

    /// Sleeps for `duration` while watching the socket: `Err(Gone)` as soon as the client closes.
    pub async fn pause(&mut self, duration: Duration) -> Result<(), Gone> {
        if self.gone {
            return Err(Gone);
        }
        if duration.is_zero() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => Ok(()),
            gone = self.watch() => Err(gone),
        }
    }

    /// Waits, silent, until the client goes away.
    pub async fn wait_until_gone(&mut self) -> Gone {
        self.broken = true;
        self.watch().await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Gone> {
        // Written even if a read saw EOF: a client that half-closed may still read the answer.
        if self.stream.write_all(bytes).await.is_err() {
            self.gone = true;
            return Err(Gone);
        }
        Ok(())
    }

    /// Writes a complete response with a `Content-Length` body.
    pub async fn send(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        keep_alive: bool,
    ) -> Result<(), Gone> {
        let mut out = head(status, headers, keep_alive);
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        self.write(&out).await
    }

    /// Writes the head of a `Transfer-Encoding: chunked` response.
    pub async fn start_chunked(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        keep_alive: bool,
    ) -> Result<(), Gone> {
        self.broken = true;
        let mut out = head(status, headers, keep_alive);
        out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
        self.write(&out).await
    }

    /// Writes one HTTP chunk (one write, sent at once: the socket has TCP_NODELAY).
    pub async fn send_chunk(&mut self, data: &[u8]) -> Result<(), Gone> {
        if data.is_empty() {
            return Ok(());
        }
        let mut out = Vec::with_capacity(data.len() + 12);
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.write(&out).await
    }

    /// Writes the terminating zero-length chunk: the response is complete.
    pub async fn end_chunked(&mut self) -> Result<(), Gone> {
        self.write(b"0\r\n\r\n").await?;
        self.broken = false;
        Ok(())
    }

    /// Makes the coming close a TCP RST (SO_LINGER 0) instead of a FIN.
    pub fn arm_reset(&mut self) {
        self.broken = true;
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
    }

    /// Marks the connection unusable for further requests (e.g. a stream cut on purpose).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Empty,
    Length(usize),
    Chunked,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Status line plus headers, without the final empty line.
fn head(status: u16, headers: &[(String, String)], keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    out.extend_from_slice(format!("date: {}\r\n", http_date(SystemTime::now())).as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(if keep_alive {
        b"connection: keep-alive\r\n".as_slice()
    } else {
        b"connection: close\r\n".as_slice()
    });
    out
}

/// Reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Site is overloaded",
        _ => "Unknown",
    }
}

/// An IMF-fixdate (`Sun, 16 Nov 2025 13:05:04 GMT`), for `date` headers.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Accepts connections until the task is dropped; dropping it aborts every connection task.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let state = state.clone();
                    connections.spawn(async move { handle_connection(stream, state).await });
                }
                Err(e) => {
                    // Typically EMFILE under a flood of connections: back off a little instead of spinning.
                    eprintln!("polyfuse-mock-server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle_connection(stream: TcpStream, state: Arc<State>) {
    let mut guard = state.recorder.connection_opened();
    let _ = stream.set_nodelay(true);
    let mut conn = Conn::new(stream);
    let mut first = true;
    loop {
        let request = match conn.read_request().await {
            Ok(Some(request)) => request,
            Ok(None) | Err(ReadError::Io(_)) => return,
            Err(ReadError::Malformed(status, message)) => {
                let body = format!(
                    "{{\"error\":{{\"message\":\"{message}\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}}}"
                );
                let headers = [("content-type".to_owned(), "application/json".to_owned())];
                let _ = conn.send(status, &headers, body.as_bytes(), false).await;
                return;
            }
        };
        if std::mem::take(&mut first) && router::is_control(&request) {
            guard.uncount();
        }
        let keep_alive = request.keep_alive;
        let flow = router::route(&mut conn, request, &state).await;
        if flow == Flow::Close || !keep_alive || conn.gone || conn.broken {
            if !conn.broken {
                let _ = conn.stream.shutdown().await;
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_763_298_304);
        assert_eq!(http_date(t), "Sun, 16 Nov 2025 13:05:04 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
