//! Budgets and usage aggregates over real sockets: 200 concurrent calls under a budget that allows
//! 50 never overspend, and the refused ones never reach the server; `Client::usage()` totals by
//! model, provider, route and tag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use polyfuse_core::{Client, Config, ErrorKind, Request};
use serde_json::{json, Value};

fn client(server: &polyfuse_mock_server::MockServer, budgets: Value, routes: Value) -> Client {
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {"openai": {"base_url": server.base_url(), "api_key": "sk-test"}},
        "budgets": budgets,
        "routes": routes,
    }))
    .unwrap();
    Client::new(config, vec![]).unwrap()
}

// Each call's worst case equals what it spends: 2 bytes of prompt + 8 per message = 10 input
// tokens, 100 output (max_tokens) = 110 tokens; at gpt-4o-mini's $0.15 / $0.6 per million:
// 10 × 0.15 + 100 × 0.6 = 61.5 µ$.
const MODEL: &str = "openai/gpt-4o-mini;prompt_tokens=10;completion_tokens=100";

fn req(tags: Value) -> Request {
    Request::from_values(MODEL, json!("hi"), json!({"max_tokens": 100, "tags": tags})).unwrap()
}

async fn run_200(c: &Client) -> (usize, usize) {
    let calls = (0..200).map(|_| c.complete(req(json!({"team": "search"}))));
    let results = futures_util::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        if let Err(e) = r {
            assert_eq!(e.kind, ErrorKind::BudgetExceeded, "{}", e.message);
        }
    }
    (ok, results.len() - ok)
}

#[tokio::test]
async fn concurrent_calls_never_overspend_a_usd_budget() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // Room for exactly 50 calls (50 × 61.5 µ$ = 3075 µ$).
    let c = client(
        &server,
        json!([{"limit_usd": 0.0030751, "window": "1h"}]),
        json!({}),
    );
    let (ok, refused) = run_200(&c).await;
    assert_eq!((ok, refused), (50, 150));
    assert_eq!(
        server.stats().requests,
        50,
        "the refused calls never reached the server"
    );
    let spent = c.usage(false).total.cost_usd;
    assert!(spent <= 0.0030751, "spent {spent}");
    assert!((spent - 0.003075).abs() < 1e-9, "spent {spent}");
}

#[tokio::test]
async fn token_and_tag_budgets_hold_under_concurrency() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let c = client(
        &server,
        json!([{"limit_tokens": 5_500, "scope": "tag:team=search"}, {"limit_usd": 100.0}]),
        json!({}),
    );
    let (ok, refused) = run_200(&c).await;
    assert_eq!((ok, refused), (50, 150));
    assert_eq!(server.stats().requests, 50);
    // Another team is not limited by that budget.
    let r = c.complete(req(json!({"team": "ads"}))).await;
    assert!(r.is_ok());
    let e = c
        .complete(req(json!({"team": "search"})))
        .await
        .unwrap_err();
    assert!(e.message.contains("tag:team=search"), "{}", e.message);
}

#[tokio::test]
async fn a_refused_target_falls_back_to_one_that_fits() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let c = client(
        &server,
        json!([{"limit_usd": 0.01, "scope": "route:r"}]),
        // gpt-4o's worst case (10 × 2.5 + 100 × 10 = 1025 µ$) fits; an unpriced model cannot
        // be reserved under a USD budget and is skipped before anything is sent.
        json!({"r": {"targets": ["openai/not-a-priced-model", "openai/gpt-4o;text=priced"]}}),
    );
    let r = c
        .complete(Request::from_values("r", json!("hi"), json!({"max_tokens": 100})).unwrap())
        .await
        .unwrap();
    assert_eq!(r.text, "priced");
    assert_eq!(server.stats().requests, 1);
}

#[tokio::test]
async fn usage_totals_by_model_provider_route_and_tag() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let c = client(
        &server,
        json!([]),
        json!({"r": {"targets": ["openai/gpt-4o;status=503", "openai/gpt-4o-mini;completion_tokens=7"]}}),
    );
    for _ in 0..3 {
        c.complete(req(json!({"team": "search", "env": "prod"})))
            .await
            .unwrap();
    }
    let routed = Request::from_values("r", json!("hi"), json!({"tags": {"team": "ads"}})).unwrap();
    c.complete(routed).await.unwrap();
    let e = c
        .complete(
            Request::from_values(
                "openai/gpt-4o;error=rate_limit",
                json!("hi"),
                json!({"timeout_ms": 300}),
            )
            .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);

    let u = c.usage(false);
    assert_eq!(u.total.calls, 5);
    assert_eq!((u.total.ok, u.total.errors), (4, 1));
    assert_eq!(u.total.errors_by_kind.get("rate_limited"), Some(&1));
    let mini = &u.by_model["openai/gpt-4o-mini"];
    assert_eq!(mini.calls, 4, "grouped by the model that answered");
    assert_eq!(mini.output_tokens, 3 * 100 + 7);
    assert!(mini.latency_ms.p50 >= 1.0 && mini.latency_ms.p99 >= mini.latency_ms.p50);
    assert_eq!(mini.latency_ms.count, 4);
    assert!(mini.ttft_ms.count == 4, "{:?}", mini.ttft_ms);
    assert_eq!(u.by_provider["openai"].calls, 5);
    let route = &u.by_route["r"];
    assert_eq!((route.calls, route.fallbacks), (1, 1));
    assert!(route.retries >= 2, "{route:?}");
    assert_eq!(u.by_tag["team=search"].calls, 3);
    assert_eq!(u.by_tag["env=prod"].calls, 3);
    assert_eq!(u.by_tag["team=ads"].calls, 1);
    assert!(u.total.cost_usd > 0.0);
    // Reset: the totals start again.
    let before = c.usage(true);
    assert_eq!(before.total.calls, 5);
    assert_eq!(c.usage(false).total.calls, 0);
}
