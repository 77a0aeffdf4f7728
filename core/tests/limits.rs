//! Limits on what a provider may send, over real sockets against a server that streams huge or
//! endless bodies without buffering them: a huge error body gives a bounded message; a huge
//! success body or event stream, or a stream line that never ends, is a `response_too_large`
//! error naming the limit; absurd retry hints and token counts never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::time::Duration;

use futures_util::StreamExt;
use polyfuse_core::{Client, Config, ErrorKind, Request, StreamEvent};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server answers every request with.
#[derive(Clone, Copy)]
enum Body {
    /// A 500 whose JSON message is `n` bytes of `x`.
    HugeError(usize),
    /// A 200 JSON answer whose content is `n` bytes.
    HugeJson(usize),
    /// A 200 event stream of valid chunks, `n` bytes in all, never finishing.
    HugeStream(usize),
    /// A 200 event stream whose first line never ends.
    EndlessLine,
    /// A 429 with `Retry-After: 1e20`.
    AbsurdRetry,
    /// A 200 answer with token counts near u64::MAX.
    HugeCounts,
}

async fn serve(body: Body) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(p) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..p]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if seen.len() >= p + 4 + len {
                            break;
                        }
                    }
                }
                let _ = answer(&mut sock, body).await;
            });
        }
    });
    format!("http://{addr}/v1")
}

async fn chunked(sock: &mut tokio::net::TcpStream, piece: &[u8]) -> std::io::Result<()> {
    sock.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
        .await?;
    sock.write_all(piece).await?;
    sock.write_all(b"\r\n").await
}

async fn answer(sock: &mut tokio::net::TcpStream, body: Body) -> std::io::Result<()> {
    let filler = vec![b'x'; 65536];
    match body {
        Body::HugeError(n) | Body::HugeJson(n) => {
            let (status, open, close) = match body {
                Body::HugeError(_) => ("500 Internal Server Error", &br#"{"error":{"message":""#[..], &br#"","type":"server_error","code":null}}"#[..]),
                _ => ("200 OK", &br#"{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""#[..], &br#""},"finish_reason":"stop"}]}"#[..]),
            };
            let total = open.len() + n + close.len();
            sock.write_all(format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {total}\r\n\r\n").as_bytes()).await?;
            sock.write_all(open).await?;
            let mut left = n;
            while left > 0 {
                let k = left.min(filler.len());
                sock.write_all(&filler[..k]).await?;
                left -= k;
            }
            sock.write_all(close).await
        }
        Body::HugeStream(n) => {
            sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n").await?;
            let chunk = format!(
                "data: {}\n\n",
                json!({"choices":[{"index":0,"delta":{"content":"x".repeat(8000)}}]})
            );
            let mut sent = 0;
            while sent < n {
                chunked(sock, chunk.as_bytes()).await?;
                sent += chunk.len();
            }
            Ok(())
        }
        Body::EndlessLine => {
            sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n").await?;
            chunked(
                sock,
                b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"",
            )
            .await?;
            loop {
                chunked(sock, &filler).await?;
            }
        }
        Body::AbsurdRetry => {
            let b = br#"{"error":{"message":"slow down","type":"rate_limit_exceeded","code":"rate_limit_exceeded"}}"#;
            sock.write_all(format!("HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1e20\r\ncontent-length: {}\r\n\r\n", b.len()).as_bytes()).await?;
            sock.write_all(b).await
        }
        Body::HugeCounts => {
            let b = json!({"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
                "usage":{"prompt_tokens": u64::MAX, "completion_tokens": u64::MAX, "completion_tokens_details": {"reasoning_tokens": u64::MAX}}}).to_string();
            sock.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", b.len()).as_bytes()).await?;
            sock.write_all(b.as_bytes()).await
        }
    }
}

fn client(base: &str, limits: Value, extra: Value) -> Client {
    let mut doc = json!({
        "env_providers": false,
        "providers": {
            "p": {"format": "openai", "base_url": base, "api_key": "sk-limits-test"},
            "xai": {"format": "openai", "base_url": base, "api_key": "sk-limits-test"},
        },
        "policy": {"max_attempts_per_target": 1, "breaker": {"enabled": false}, "limits": limits},
    });
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    Client::new(Config::from_value(doc).unwrap(), vec![]).unwrap()
}

fn req(model: &str, params: Value) -> Request {
    Request::from_values(model, json!("hi"), params).unwrap()
}

#[tokio::test]
async fn a_huge_error_body_gives_a_bounded_message() {
    // 64 MB: only the first max_error_body_bytes are read; the message is an excerpt.
    let base = serve(Body::HugeError(64 << 20)).await;
    let c = client(&base, json!({}), json!({}));
    let e = c.complete(req("p/m", json!({}))).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Server);
    assert!(e.message.len() < 4_000, "{} bytes", e.message.len());
    let m = e.attempts[0].error_message.as_deref().unwrap();
    assert!(m.len() < 4_000);
    // A readable body whose message alone is 512 KB: cut to max_message_chars, saying so.
    let base = serve(Body::HugeError(512 << 10)).await;
    let c = client(&base, json!({}), json!({}));
    let e = c.complete(req("p/m", json!({}))).await.unwrap_err();
    assert!(e.message.len() < 4_000, "{} bytes", e.message.len());
    assert!(
        e.message.contains("more characters"),
        "{}",
        &e.message[..100]
    );
}

#[tokio::test]
async fn a_huge_json_body_is_too_large_and_names_the_limit() {
    let base = serve(Body::HugeJson(40 << 20)).await;
    let c = client(&base, json!({"max_response_bytes": 8 << 20}), json!({}));
    for params in [json!({"include_raw": true}), json!({})] {
        let e = c.complete(req("p/m", params)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::ResponseTooLarge, "{}", e.message);
        assert!(
            e.message.contains("policy.limits.max_response_bytes"),
            "{}",
            e.message
        );
    }
}

#[tokio::test]
async fn a_huge_or_endless_stream_is_too_large() {
    let base = serve(Body::HugeStream(64 << 20)).await;
    let c = client(&base, json!({"max_response_bytes": 4 << 20}), json!({}));
    let mut s = c.stream(req("p/m", json!({})));
    let mut deltas = 0;
    let err = loop {
        match s.next().await {
            Some(Ok(StreamEvent::TextDelta { .. })) => deltas += 1,
            Some(Ok(_)) => {}
            Some(Err(e)) => break e,
            None => panic!("the stream ended without an error"),
        }
    };
    assert!(deltas > 100);
    assert_eq!(err.kind, ErrorKind::ResponseTooLarge);
    assert!(
        err.message.contains("max_response_bytes"),
        "{}",
        err.message
    );

    let base = serve(Body::EndlessLine).await;
    let c = client(&base, json!({"max_event_bytes": 1 << 20}), json!({}));
    let e = tokio::time::timeout(Duration::from_secs(30), c.complete(req("p/m", json!({}))))
        .await
        .expect("bounded")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ResponseTooLarge);
    assert!(e.message.contains("max_event_bytes"), "{}", e.message);
}

#[tokio::test]
async fn absurd_hints_and_counts_from_the_network_never_panic() {
    // Retry-After: 1e20 is a rate limit with a (capped) hint: longer than the cap, so it falls
    // back rather than sleeping; never an internal error.
    let base = serve(Body::AbsurdRetry).await;
    let c = client(
        &base,
        json!({}),
        json!({"routes": {"r": {"targets": ["p/a", "p/b"]}}}),
    );
    let e = c.complete(req("r", json!({}))).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited, "{}", e.message);
    assert_eq!(e.attempts.len(), 2, "it fell back");
    assert!(e
        .retry_after
        .is_some_and(|d| d >= Duration::from_secs(3600)));
    // Token counts at u64::MAX (xAI adds reasoning to completion): saturated, not overflowed.
    let base = serve(Body::HugeCounts).await;
    let c = client(&base, json!({}), json!({}));
    for model in ["p/m", "xai/grok-4"] {
        let r = c
            .complete(req(model, json!({"include_raw": true})))
            .await
            .unwrap();
        assert_eq!(r.usage.output_tokens, u64::MAX, "{model}");
        assert_eq!(r.usage.total_tokens(), u64::MAX);
    }
}
