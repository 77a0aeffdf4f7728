//! Routing: the `/_mock/*` control endpoints (stats, request log, reset; no auth), the provider
//! endpoints (one wire-format module each: OpenAI Chat Completions and its Mistral / OpenRouter
//! flavours, Anthropic Messages, Gemini), and the OpenAI-style 404 for anything else. Also how a
//! provider request is counted, logged (with credentials redacted) and its outcome recorded.

use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::http::{Conn, Flow, Request};
use crate::openai::{self, Flavour};
use crate::stats::Outcome;
use crate::{anthropic, gemini, State};

/// A provider endpoint.
enum Endpoint<'a> {
    /// Chat Completions, with the flavour of the path (or the server default).
    Chat(Flavour),
    Anthropic,
    Gemini(&'a str, gemini::Method),
}

/// Prefix of the control endpoints.
pub const CONTROL_PREFIX: &str = "/_mock/";

/// Whether a request is for a control endpoint (those do not count as provider traffic).
pub fn is_control(req: &Request) -> bool {
    req.path.starts_with(CONTROL_PREFIX)
}

/// Dispatches one request.
pub(crate) async fn route(conn: &mut Conn, req: Request, state: &State) -> Flow {
    let keep_alive = req.keep_alive;
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/_mock/stats") => {
            send_json(conn, 200, &state.recorder.snapshot(), keep_alive).await
        }
        ("GET", "/_mock/requests") => {
            send_json(conn, 200, &state.recorder.requests(), keep_alive).await
        }
        ("POST", "/_mock/reset") => {
            state.recorder.reset();
            send_json(conn, 200, &json!({"ok": true}), keep_alive).await
        }
        ("GET", "/_mock/health") => send_json(conn, 200, &json!({"ok": true}), keep_alive).await,
        ("POST", openai::PATH) => {
            let flavour = state.flavour();
            provider(conn, &req, state, Endpoint::Chat(flavour)).await
        }
        ("POST", openai::OPENROUTER_PATH) => {
            provider(conn, &req, state, Endpoint::Chat(Flavour::OpenRouter)).await
        }
        ("POST", anthropic::PATH) => provider(conn, &req, state, Endpoint::Anthropic).await,
        ("POST", path) if gemini::parse_path(path).is_some() => {
            let (model, method) = gemini::parse_path(path).expect("matched");
            provider(conn, &req, state, Endpoint::Gemini(model, method)).await
        }
        (method, path) => {
            let body = json!({"error": {
                "message": format!("Unknown request URL: {method} {path}. Please check the URL for typos, or see the docs at https://platform.openai.com/docs/api-reference/."),
                "type": "invalid_request_error",
                "param": null,
                "code": "unknown_url",
            }});
            send_json(conn, 404, &body, keep_alive).await
        }
    }
}

/// One provider exchange: counted and logged, answered by its wire format, its outcome recorded.
async fn provider(conn: &mut Conn, req: &Request, state: &State, endpoint: Endpoint<'_>) -> Flow {
    let started = Instant::now();
    let exchange = state.recorder.begin(log_entry(req));
    let outcome = match endpoint {
        Endpoint::Chat(flavour) => openai::respond(conn, req, state, started, flavour).await,
        Endpoint::Anthropic => anthropic::respond(conn, req, state, started).await,
        Endpoint::Gemini(model, method) => {
            gemini::respond(conn, req, state, started, model, method).await
        }
    };
    exchange.finish(outcome);
    match outcome {
        Outcome::Completed => Flow::KeepAlive,
        Outcome::ClientGone | Outcome::ServerAbort => Flow::Close,
    }
}

async fn send_json(conn: &mut Conn, status: u16, body: &impl Serialize, keep_alive: bool) -> Flow {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let headers = [("content-type".to_owned(), "application/json".to_owned())];
    match conn.send(status, &headers, &bytes, keep_alive).await {
        Ok(()) => Flow::KeepAlive,
        Err(_) => Flow::Close,
    }
}

/// The `/_mock/requests` entry of a provider request: method, path (no query string: Gemini keys
/// can ride there), headers with lowercase names and credentials redacted (repeated headers
/// joined with `, `), and the body parsed as JSON (a string if it is not JSON, null if empty).
pub fn log_entry(req: &Request) -> Value {
    let mut headers = Map::new();
    for (name, value) in &req.headers {
        let value = redact(name, value);
        match headers.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.clone(), Value::String(value));
            }
        }
    }
    let body = if req.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&req.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&req.body).into_owned()))
    };
    json!({"method": req.method, "path": req.path, "headers": headers, "body": body})
}

fn redact(name: &str, value: &str) -> String {
    match name {
        "authorization" | "proxy-authorization" => match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} <redacted>"),
            None => "<redacted>".to_owned(),
        },
        "x-api-key" | "api-key" | "x-goog-api-key" => "<redacted>".to_owned(),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_entry_redacts_and_parses() {
        let req = Request {
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            query: String::new(),
            headers: vec![
                ("authorization".into(), "Bearer sk-secret".into()),
                ("x-api-key".into(), "sk-ant-secret".into()),
                ("x-tag".into(), "a".into()),
                ("x-tag".into(), "b".into()),
            ],
            body: br#"{"model":"m"}"#.to_vec(),
            keep_alive: true,
        };
        let e = log_entry(&req);
        assert_eq!(e["headers"]["authorization"], "Bearer <redacted>");
        assert_eq!(e["headers"]["x-api-key"], "<redacted>");
        assert_eq!(e["headers"]["x-tag"], "a, b");
        assert_eq!(e["body"]["model"], "m");
        assert!(!e.to_string().contains("secret"));
    }
}
