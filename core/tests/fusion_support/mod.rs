//! Shared by the fusion tests: clients on the in-process mock (and on the HTTP mock server) that
//! record every usage event, fusion requests from JSON, and stream collection.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use polyfuse_core::usage::UsageEvent;
use polyfuse_core::{
    Client, Config, Error, FuseRequest, FusionEvent, FusionResult, Level, UsageCallback,
};
use serde_json::{json, Value};

/// Every usage event a client emitted.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<UsageEvent>>>);

impl Events {
    pub fn callback(&self) -> UsageCallback {
        let seen = self.0.clone();
        Arc::new(move |batch: &[Arc<UsageEvent>]| {
            seen.lock()
                .unwrap()
                .extend(batch.iter().map(|e| (**e).clone()));
        })
    }

    /// The events so far, after every emitted one was delivered.
    pub fn all(&self, client: &Client) -> Vec<UsageEvent> {
        client.flush_usage(Some(Duration::from_secs(5)));
        self.0.lock().unwrap().clone()
    }

    pub fn level(&self, client: &Client, level: Level) -> Vec<UsageEvent> {
        self.all(client)
            .into_iter()
            .filter(|e| e.level == level)
            .collect()
    }
}

/// A client on the in-process mock with these `mock.models`, routes and fusions, and a
/// recorder of its usage events.
pub fn mock_client(models: Value, extra: Value) -> (Client, Events) {
    let mut doc = json!({
        "env_providers": false,
        "policy": {"max_attempts_per_target": 1, "breaker": {"enabled": false}},
        "mock": {"models": models},
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        doc[k] = v;
    }
    let events = Events::default();
    let client = Client::new(Config::from_value(doc).unwrap(), vec![events.callback()]).unwrap();
    (client, events)
}

/// A client whose provider `h` is the HTTP mock server at `base`.
pub fn http_client(base: &str, extra: Value) -> (Client, Events) {
    let mut doc = json!({
        "env_providers": false,
        "providers": {"h": {"format": "openai", "base_url": base, "api_key": "sk-test"}},
        "policy": {"max_attempts_per_target": 1, "breaker": {"enabled": false}},
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        doc[k] = v;
    }
    let events = Events::default();
    let client = Client::new(Config::from_value(doc).unwrap(), vec![events.callback()]).unwrap();
    (client, events)
}

pub fn fuse_req(prompt: &str, options: Value) -> FuseRequest {
    FuseRequest::from_values(json!(prompt), options).unwrap()
}

pub async fn fuse(client: &Client, options: Value) -> FusionResult {
    client
        .fuse(fuse_req("What is 2+2?", options))
        .await
        .unwrap()
}

pub async fn fuse_err(client: &Client, options: Value) -> Error {
    client
        .fuse(fuse_req("What is 2+2?", options))
        .await
        .unwrap_err()
}

/// A streamed fusion's events, and its error if it ended with one.
pub async fn fuse_events(client: &Client, options: Value) -> (Vec<FusionEvent>, Option<Error>) {
    let mut s = client.fuse_stream(fuse_req("What is 2+2?", options));
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(ev) => out.push(ev),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// The text of a candidate by its label.
pub fn text_of<'a>(r: &'a FusionResult, label: &str) -> &'a str {
    &r.candidates
        .iter()
        .find(|c| c.label.as_deref() == Some(label))
        .unwrap_or_else(|| panic!("no candidate {label} in {:?}", r.candidates))
        .text
}

/// A verdict JSON naming `winner` with scores for `labels`.
pub fn verdict(winner: &str, scores: &[(&str, u32)]) -> String {
    let scores: serde_json::Map<String, Value> = scores
        .iter()
        .map(|(l, s)| (l.to_string(), json!(s)))
        .collect();
    format!(
        "Notes: checked each answer.\n{}",
        json!({"scores": scores, "winner": winner, "confidence": "high", "rationale": "it is right"})
    )
}

/// Polls (bounded, ~3 s) until the HTTP mock saw `n` client disconnects; returns the count.
pub async fn wait_disconnects(server: &polyfuse_mock_server::MockServer, n: u64) -> u64 {
    let mut seen = 0;
    for _ in 0..150 {
        seen = server.stats().client_disconnects;
        if seen >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}
