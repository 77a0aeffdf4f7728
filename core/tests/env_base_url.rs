//! Built-in providers read their base URL from the environment as the official SDKs do
//! (`OPENAI_BASE_URL` with its `/v1`, `ANTHROPIC_BASE_URL` without it). One test in its own
//! binary, since it sets process environment variables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use polyfuse_core::{Client, Config, Request};
use serde_json::{json, Value};

#[tokio::test]
async fn builtin_base_urls_come_from_the_environment() {
    let server = polyfuse_mock_server::start().await.unwrap();
    std::env::set_var("OPENAI_API_KEY", "sk-env-openai");
    std::env::set_var("OPENAI_BASE_URL", server.base_url());
    std::env::set_var("ANTHROPIC_API_KEY", "sk-ant-env");
    // The Anthropic SDK's variable is the host without `/v1`.
    std::env::set_var("ANTHROPIC_BASE_URL", server.url());
    let ask = |model: &str| Request::from_values(model, json!("hi"), Value::Null).unwrap();

    let c = Client::new(Config::default(), vec![]).unwrap();
    let r = c
        .complete(ask("openai/gpt-4o-mini;text=via%20env"))
        .await
        .unwrap();
    assert_eq!(r.text, "via env");
    let r = c
        .complete(ask("anthropic/claude-sonnet-4-5;text=claude%20via%20env"))
        .await
        .unwrap();
    assert_eq!(r.text, "claude via env");

    // A config entry naming the built-in, with nothing else, gets the same defaults.
    let config =
        Config::from_value(json!({"env_providers": false, "providers": {"openai": {}}})).unwrap();
    let c = Client::new(config, vec![]).unwrap();
    let r = c
        .complete(ask("openai/gpt-4o-mini;text=declared"))
        .await
        .unwrap();
    assert_eq!(r.text, "declared");
    let seen = server.stats().requests;
    assert_eq!(seen, 3);
}
