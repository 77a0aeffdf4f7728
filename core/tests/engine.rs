//! The one call engine over real sockets (issue 7, section 2): same-target retries in streams,
//! context-window fallback to larger or unknown windows, usage of failed and cancelled attempts,
//! built-in providers overridden in the config, connections returned to the pool, and the error of
//! a failed route naming the route and every target's failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use futures_util::StreamExt;
use polyfuse_core::usage::UsageSource;
use polyfuse_core::{Client, Config, Error, ErrorKind, Outcome, Request, StreamEvent};
use serde_json::{json, Value};

async fn setup(policy: Value, routes: Value) -> (polyfuse_mock_server::MockServer, Client) {
    let server = polyfuse_mock_server::start().await.expect("mock server");
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {
            "p": {"format": "openai", "base_url": server.base_url(), "api_key": "sk-test"},
            "a": {"format": "anthropic", "base_url": server.base_url(), "api_key": "sk-ant-test"},
        },
        "policy": policy,
        "routes": routes,
    }))
    .unwrap();
    (server, Client::new(config, vec![]).unwrap())
}

fn req(model: &str) -> Request {
    Request::from_values(model, json!("hello there"), Value::Null).unwrap()
}

async fn stream_all(client: &Client, model: &str) -> (Vec<StreamEvent>, Option<Error>) {
    let mut s = client.stream(req(model));
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(ev) => out.push(ev),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

fn final_response(events: &[StreamEvent]) -> &polyfuse_core::Response {
    match events.last() {
        Some(StreamEvent::Final { response }) => response,
        other => panic!("expected a final event, got {other:?}"),
    }
}

fn short(model: &str) -> &str {
    model.split(';').next().unwrap()
}

#[tokio::test]
async fn streams_retry_the_same_target_before_falling_back() {
    // A 429 with Retry-After, a single 500 and a server-reported 408 are retried on the primary,
    // as complete() does; only a first-token timeout counts as a silent provider.
    let routes = json!({
        "ra": {"targets": ["p/primary;status=429;retry_after=1;fail_times=1;key=s429", "p/backup"]},
        "five": {"targets": ["p/primary;status=500;fail_times=1;key=s500", "p/backup"]},
        "timeout": {"targets": ["p/primary;status=408;fail_times=1;key=s408", "p/backup"]},
    });
    let (_s, c) = setup(json!({"backoff_initial_ms": 50}), routes).await;
    for (route, kind) in [
        ("ra", ErrorKind::RateLimited),
        ("five", ErrorKind::Server),
        ("timeout", ErrorKind::Timeout),
    ] {
        let (events, err) = stream_all(&c, route).await;
        assert!(err.is_none(), "{route}: {err:?}");
        let r = final_response(&events);
        assert_eq!(
            short(&r.model),
            "p/primary",
            "{route}: answered by the primary"
        );
        let tries: Vec<_> = r
            .attempts
            .iter()
            .map(|a| (short(&a.model), a.outcome, a.error_kind))
            .collect();
        assert_eq!(
            tries,
            vec![
                ("p/primary", Outcome::Error, Some(kind)),
                ("p/primary", Outcome::Ok, None)
            ],
            "{route}"
        );
        assert_eq!(r.attempts[1].number, 2);
        assert!(!r.attempts[1].fallback);
    }
}

#[tokio::test]
async fn context_window_errors_fall_back_to_larger_or_unknown_windows() {
    let routes = json!({"r": {"targets": [
        {"model": "p/small;error=context_length_exceeded", "context_window": 8000},
        {"model": "p/also-small;text=too%20small", "context_window": 4000},
        {"model": "p/unknown;text=from%20unknown"},
    ]}});
    let (s, c) = setup(json!({}), routes).await;
    let r = c.complete(req("r")).await.unwrap();
    assert_eq!(r.text, "from unknown");
    let tried: Vec<_> = r.attempts.iter().map(|a| short(&a.model)).collect();
    assert_eq!(
        tried,
        vec!["p/small", "p/unknown"],
        "the known-smaller target is skipped"
    );
    assert_eq!(
        r.attempts[0].error_kind,
        Some(ErrorKind::ContextWindowExceeded)
    );
    assert_eq!(s.stats().requests, 2, "the smaller target was never asked");
}

#[tokio::test]
async fn a_cut_stream_keeps_the_usage_the_provider_reported() {
    // Anthropic reports the input tokens in message_start; the attempt cut after two text deltas
    // keeps them (reported), and the call's usage adds the answering attempt's.
    let routes = json!({"r": {"targets": ["a/claude;cut_after=2;prompt_tokens=42;key=cut", "a/claude;prompt_tokens=42"]}});
    let (_s, c) = setup(json!({}), routes).await;
    let (events, err) = stream_all(&c, "r").await;
    assert!(err.is_none(), "{err:?}");
    let r = final_response(&events);
    let failed = &r.attempts[0];
    assert_eq!(failed.outcome, Outcome::Error);
    assert_eq!(failed.usage.source, UsageSource::Reported);
    assert_eq!(failed.usage.input_tokens, 42, "{:?}", failed.usage);
    let ok = &r.attempts[1];
    assert_eq!(ok.usage.source, UsageSource::Reported);
    assert_eq!(ok.usage.input_tokens, 42);
    assert!(events
        .iter()
        .any(|e| matches!(e, StreamEvent::Restart { .. })));
}

#[tokio::test]
async fn a_rejected_attempt_consumed_nothing_and_a_hedge_loser_keeps_its_report() {
    let routes = json!({
        "rejected": {"targets": ["p/x;status=500;key=rej", "p/y"]},
        "hedged": {"targets": ["a/slow;ttft_ms=3000;prompt_tokens=17", "a/fast;text=fast"], "hedge": {"delay_ms": 150}},
    });
    let (_s, c) = setup(json!({"max_attempts_per_target": 1}), routes).await;
    let r = c.complete(req("rejected")).await.unwrap();
    assert_eq!(r.attempts[0].usage.source, UsageSource::None);
    assert_eq!(r.attempts[0].usage.total_tokens(), 0);

    let (events, err) = stream_all(&c, "hedged").await;
    assert!(err.is_none(), "{err:?}");
    let r = final_response(&events);
    assert_eq!(r.text, "fast");
    let loser = r
        .attempts
        .iter()
        .find(|a| a.outcome == Outcome::Cancelled)
        .expect("the slow primary is cancelled");
    assert!(short(&loser.model).ends_with("slow"));
    assert_eq!(loser.usage.source, UsageSource::Reported);
    assert_eq!(
        loser.usage.input_tokens, 17,
        "the loser's message_start input tokens are kept"
    );
}

#[tokio::test]
async fn a_builtin_provider_can_be_overridden_by_its_name_alone() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {"openai": {"base_url": server.base_url(), "api_key": "sk-test"}},
    }))
    .unwrap();
    let c = Client::new(config, vec![]).unwrap();
    let r = c
        .complete(req("openai/gpt-4o-mini;text=proxied"))
        .await
        .unwrap();
    assert_eq!(r.text, "proxied");
    assert_eq!(r.provider, "openai");
}

#[tokio::test]
async fn sequential_calls_reuse_one_connection() {
    // The default complete() streams under the hood; a finished stream reads its body to the end,
    // so its connection goes back to the pool. (Before: ~60% of calls opened a new connection.)
    let (s, c) = setup(json!({}), json!({})).await;
    for i in 0..200 {
        let r = c.complete(req("p/m;words=5")).await.unwrap();
        assert_eq!(r.usage.source, UsageSource::Reported, "call {i}");
    }
    for _ in 0..50 {
        let (events, err) = stream_all(&c, "p/m;words=5").await;
        assert!(err.is_none());
        final_response(&events);
    }
    let connections = s.stats().connections;
    assert!(
        connections <= 3,
        "250 sequential calls opened {connections} connections"
    );
}

#[tokio::test]
async fn a_failed_route_names_the_route_and_how_each_target_failed() {
    let routes = json!({"chat": {"targets": ["p/a;status=429", "p/b;status=503", "p/c;error=server_error"]}});
    let (_s, c) = setup(
        json!({"backoff_initial_ms": 20, "retry_after_cap_ms": 100}),
        routes,
    )
    .await;
    let e = c.complete(req("chat")).await.unwrap_err();
    assert_eq!(e.attempts.len(), 6);
    let m = &e.message;
    assert!(m.contains("route `chat`"), "{m}");
    assert!(m.contains("6 attempts"), "{m}");
    for (target, kind, status) in [
        ("p/a;status=429", "rate_limited", "429"),
        ("p/b;status=503", "overloaded", "503"),
        ("p/c;error=server_error", "server", "500"),
    ] {
        assert!(
            m.contains(&format!("{target} {kind} (HTTP {status}) x2")),
            "{target}: {m}"
        );
    }
    assert!(!m.contains("sk-test"));
}

#[tokio::test]
async fn a_stream_dropped_mid_answer_reports_what_was_received() {
    // A consumer that abandons a stream still gets the call's usage event, with the attempt
    // cancelled and the tokens the provider had reported.
    let server = polyfuse_mock_server::start().await.unwrap();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let cb: polyfuse_core::UsageCallback =
        std::sync::Arc::new(move |batch: &[std::sync::Arc<polyfuse_core::UsageEvent>]| {
            sink.lock().unwrap().extend(batch.iter().cloned());
        });
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {"a": {"format": "anthropic", "base_url": server.base_url(), "api_key": "k"}},
    }))
    .unwrap();
    let c = Client::new(config, vec![cb]).unwrap();
    let mut s = c.stream(req("a/claude;words=50;chunk_delay_ms=20;prompt_tokens=9"));
    let mut seen = 0;
    while let Some(Ok(ev)) = s.next().await {
        if matches!(ev, StreamEvent::TextDelta { .. }) {
            seen += 1;
            if seen == 3 {
                break;
            }
        }
    }
    drop(s);
    let stats = c.flush_usage(None);
    assert_eq!((stats.emitted, stats.delivered, stats.dropped), (2, 2, 0));
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2, "the attempt's event, then the call's");
    let attempt = &events[0];
    assert_eq!(attempt.level, polyfuse_core::Level::Attempt);
    assert_eq!(attempt.outcome, Outcome::Cancelled);
    assert_eq!(attempt.usage.input_tokens, 9);
    let ev = &events[1];
    assert_eq!(ev.level, polyfuse_core::Level::Call);
    assert_eq!(attempt.parent_id.as_deref(), Some(ev.request_id.as_str()));
    assert_eq!(ev.outcome, Outcome::Cancelled);
    assert_eq!(ev.attempts.len(), 1);
    assert_eq!(ev.attempts[0].outcome, Outcome::Cancelled);
    assert_eq!(ev.usage.input_tokens, 9);
    assert_eq!(ev.usage.source, UsageSource::Reported);
}

fn gemini_and_mistral(server: &polyfuse_mock_server::MockServer) -> Client {
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {
            "p": {"format": "openai", "base_url": server.base_url(), "api_key": "sk-test"},
            "a": {"format": "anthropic", "base_url": server.base_url(), "api_key": "sk-ant-test"},
            "g": {"format": "gemini", "base_url": format!("{}/v1beta", server.url()), "api_key": "g-test"},
            "m": {"format": "mistral", "base_url": server.base_url(), "api_key": "m-test"},
        },
        "routes": {
            "ctx": {"targets": [
                "p/a;status=400;error=invalid_request;error_message=litellm.ContextWindowExceededError%3A%20too%20long;key=ctx",
                "p/b;text=fitted"]},
        },
    }))
    .unwrap();
    Client::new(config, vec![]).unwrap()
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_is_the_complete_answer() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let c = gemini_and_mistral(&server);
    for model in [
        "p/m;json_stream=1;text=whole%20answer",
        "a/claude;json_stream=1;text=whole%20answer",
        "g/gemini-2.5-flash;json_stream=1;text=whole%20answer",
        "m/mistral-small;format=mistral;json_stream=1;text=whole%20answer",
    ] {
        // complete() streams under the hood: the JSON body is read as the answer, not as a
        // stream that "ended after 0 events".
        let r = c.complete(req(model)).await.unwrap();
        assert_eq!(r.text, "whole answer", "{model}");
        assert_eq!(r.attempts.len(), 1, "{model}: not retried");
        assert_eq!(r.usage.source, UsageSource::Reported, "{model}");
        // stream() yields it as deltas and a final event.
        let (events, err) = stream_all(&c, model).await;
        assert!(err.is_none(), "{model}: {err:?}");
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "whole answer", "{model}");
        assert_eq!(final_response(&events).text, "whole answer");
    }
}

#[tokio::test]
async fn errors_are_read_by_what_servers_really_send() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let c = gemini_and_mistral(&server);
    // A generic 400 whose message names the context window is a context-window error, and it
    // falls back.
    let r = c.complete(req("ctx")).await.unwrap();
    assert_eq!(r.text, "fitted");
    assert_eq!(
        r.attempts[0].error_kind,
        Some(ErrorKind::ContextWindowExceeded)
    );
    // Content-policy wording, in every format, and OpenAI-shaped bodies behind the Anthropic and
    // Gemini endpoints (a proxy in front).
    for (model, kind) in [
        ("p/m;status=400;error_message=blocked%20by%20our%20content%20policy", ErrorKind::ContentFiltered),
        ("a/claude;status=400;error_message=Output%20blocked%20by%20content%20filtering%20policy", ErrorKind::ContentFiltered),
        ("g/gemini-2.5-flash;status=400;error_message=The%20input%20token%20count%20exceeds%20the%20maximum%20number%20of%20tokens%20allowed", ErrorKind::ContextWindowExceeded),
        ("m/mistral-large;format=mistral;status=400;error_message=Prompt%20contains%209%20tokens%2C%20too%20large%20for%20model", ErrorKind::ContextWindowExceeded),
        ("a/claude;error=context_length_exceeded;error_body=openai", ErrorKind::ContextWindowExceeded),
        ("g/gemini-2.5-flash;error=context_length_exceeded;error_body=openai", ErrorKind::ContextWindowExceeded),
        ("a/claude;error=insufficient_quota;error_body=openai", ErrorKind::Quota),
        ("g/gemini-2.5-flash;error=rate_limit;error_body=openai", ErrorKind::RateLimited),
    ] {
        let e = c
            .complete(Request::from_values(model, json!("hi"), json!({"timeout_ms": 1500})).unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind, kind, "{model}: {}", e.message);
        assert!(
            !e.message.starts_with("HTTP 4"),
            "{model}: the body was read: {}",
            e.message
        );
    }
    let e = c
        .complete(req(
            "g/gemini-2.5-flash;error=context_length_exceeded;error_body=openai",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.provider_code.as_deref(), Some("context_length_exceeded"));
}

#[tokio::test]
async fn a_stream_without_usage_is_estimated_never_zero() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let c = gemini_and_mistral(&server);
    for model in [
        "m/mistral-small;format=mistral;usage=0;words=12",
        "p/m;usage=0;words=12",
        "a/claude;usage=0;words=12",
        "g/gemini-2.5-flash;usage=0;words=12",
    ] {
        let r = c.complete(req(model)).await.unwrap();
        assert_eq!(r.usage.source, UsageSource::Estimated, "{model}");
        assert!(
            r.usage.input_tokens > 0 && r.usage.output_tokens > 0,
            "{model}: {:?}",
            r.usage
        );
        assert_eq!(r.attempts[0].usage, r.usage);
        let (events, _) = stream_all(&c, model).await;
        assert_eq!(
            final_response(&events).usage.source,
            UsageSource::Estimated,
            "{model}"
        );
    }
}

#[tokio::test]
async fn a_refusal_is_the_text_in_complete_and_stream() {
    let (_s, c) = setup(json!({}), json!({})).await;
    let model = "p/m;refusal=I%27m%20sorry%2C%20I%20can%27t%20help%20with%20that.";
    let want = "I'm sorry, I can't help with that.";
    let r = c.complete(req(model)).await.unwrap();
    assert_eq!(r.text, want);
    assert_eq!(r.message.refusal.as_deref(), Some(want));
    let plain = Request::from_values(model, json!("hi"), json!({"include_raw": true})).unwrap();
    let r = c.complete(plain).await.unwrap();
    assert_eq!(r.text, want, "the plain (non-streaming) request too");
    assert_eq!(r.message.refusal.as_deref(), Some(want));
    let (events, err) = stream_all(&c, model).await;
    assert!(err.is_none());
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, want);
    assert_eq!(
        final_response(&events).message.refusal.as_deref(),
        Some(want)
    );
}

#[tokio::test]
async fn keep_alives_do_not_count_as_a_first_token_but_keep_a_stream_alive() {
    let routes = json!({"r": {"targets": ["p/pinging;ttft_ms=3000;keepalive_ms=100", "p/backup;text=from%20backup"]}});
    let (s, c) = setup(
        json!({"first_token_timeout_ms": 500, "stream_idle_timeout_ms": 400}),
        routes,
    )
    .await;
    // A provider that only pings before its first token is silent: it fails over after 500 ms.
    let t = std::time::Instant::now();
    let r = c.complete(req("r")).await.unwrap();
    assert_eq!(r.text, "from backup");
    assert!(
        t.elapsed() < std::time::Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.attempts.len(), 2, "a silent target is not retried");
    // After the first token, keep-alives count: gaps of 800 ms between chunks with pings every
    // 100 ms are not a stall under a 400 ms idle deadline.
    let (events, err) = stream_all(&c, "p/slow;words=4;chunk_delay_ms=800;keepalive_ms=100").await;
    assert!(err.is_none(), "{err:?}");
    let r = final_response(&events);
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.text, "w1 w2 w3 w4");
    // Without keep-alives the same gaps are a stall.
    let (_, err) = stream_all(&c, "p/slow;words=4;chunk_delay_ms=800").await;
    let err = err.expect("a stall");
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(err.message.contains("stalled"), "{}", err.message);
    let _ = s;
}

#[tokio::test]
async fn a_call_dropped_before_its_first_poll_is_accounted_as_cancelled() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let cb: polyfuse_core::UsageCallback =
        std::sync::Arc::new(move |batch: &[std::sync::Arc<polyfuse_core::UsageEvent>]| {
            sink.lock().unwrap().extend(batch.iter().cloned());
        });
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {"p": {"format": "openai", "base_url": server.base_url(), "api_key": "k"}},
    }))
    .unwrap();
    let c = Client::new(config, vec![cb]).unwrap();
    let never_polled = c.complete(req("p/m"));
    drop(never_polled);
    let stream = c.stream(req("p/m"));
    drop(stream);
    c.flush_usage(None);
    let events = events.lock().unwrap();
    let outcomes: Vec<_> = events
        .iter()
        .map(|e| (e.level, e.outcome, e.streamed))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (polyfuse_core::Level::Call, Outcome::Cancelled, false),
            (polyfuse_core::Level::Call, Outcome::Cancelled, true)
        ]
    );
    assert!(events[0].attempts.is_empty());
    assert_eq!(server.stats().requests, 0, "nothing was sent");
}
