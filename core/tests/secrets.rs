//! No secret leaves the core in any field: a server that echoes the API key (and a gateway key
//! given as a config header) in `error.code`, `error.type`, the `x-request-id` header and an
//! upper-cased message; none of it reaches the error, its attempts or the usage events. And a
//! placeholder key (`none`) does not mangle unrelated words.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::sync::{Arc, Mutex};

use polyfuse_core::{Client, Config, Request, UsageEvent};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every request with a 401 that echoes the request's credentials everywhere.
async fn echoing_server() -> String {
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
                let head = loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(p) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        break String::from_utf8_lossy(&seen[..p]).to_string();
                    }
                };
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.trim()
                                .eq_ignore_ascii_case(name)
                                .then(|| v.trim().to_string())
                        })
                        .unwrap_or_default()
                };
                let key = header("authorization")
                    .trim_start_matches("Bearer ")
                    .to_string();
                let gateway = header("x-gateway-key");
                let body = json!({"error": {
                    "message": format!("INVALID KEY {} (gateway {})", key.to_uppercase(), gateway),
                    "type": format!("bad_key_{key}"),
                    "code": gateway,
                }})
                .to_string();
                let resp = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nx-request-id: req-{key}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/v1")
}

const KEY: &str = "sk-proj-Zq8vN3kLmP0aRt7Y";
const GATEWAY: &str = "gw-live-4f1c9e2b7a6d";

#[tokio::test]
async fn no_secret_in_any_field() {
    let base = echoing_server().await;
    let events = Arc::new(Mutex::new(Vec::<UsageEvent>::new()));
    let sink = events.clone();
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {"p": {
            "format": "openai", "base_url": base, "api_key": KEY,
            "headers": {"X-Gateway-Key": GATEWAY, "X-Title": "polyfuse tests"},
        }},
        "policy": {"max_attempts_per_target": 1},
    }))
    .unwrap();
    let c = Client::new(
        config,
        vec![Arc::new(move |b: &[Arc<UsageEvent>]| {
            sink.lock()
                .unwrap()
                .extend(b.iter().map(|e| e.as_ref().clone()))
        })],
    )
    .unwrap();
    let e = c
        .complete(Request::from_values("p/m", json!("hi"), Value::Null).unwrap())
        .await
        .unwrap_err();
    c.flush_usage(None);
    let everything = format!(
        "{e} | {e:?} | {} | {:?}",
        serde_json::to_string(&e.attempts).unwrap(),
        events.lock().unwrap()
    );
    let lower = everything.to_lowercase();
    for secret in [KEY, GATEWAY] {
        assert!(
            !lower.contains(&secret.to_lowercase()),
            "{secret} leaked: {everything}"
        );
        // Nor a long fragment of it.
        assert!(
            !lower.contains(&secret[3..15].to_lowercase()),
            "{everything}"
        );
    }
    assert!(e.request_id.as_deref().unwrap_or("").contains("[REDACTED]"));
    assert!(e
        .provider_code
        .as_deref()
        .unwrap_or("")
        .contains("[REDACTED]"));
    assert!(everything.contains("polyfuse tests") || !everything.contains("X-Title"));
}

#[tokio::test]
async fn a_placeholder_key_mangles_nothing() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {"p": {"format": "openai", "base_url": server.base_url(), "api_key": "none"}},
        "policy": {"max_attempts_per_target": 1},
    }))
    .unwrap();
    let c = Client::new(config, vec![]).unwrap();
    let msg = "None of the messages may exceed max_tokens; none is left";
    let model = format!(
        "p/m;status=400;error_message={}",
        msg.replace(' ', "%20").replace(';', "%3B")
    );
    let e = c
        .complete(Request::from_values(&model, json!("hi"), Value::Null).unwrap())
        .await
        .unwrap_err();
    assert!(e.message.contains(msg), "{}", e.message);
    assert!(!e.message.contains("REDACTED"), "{}", e.message);
}
