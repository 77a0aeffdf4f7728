//! The deadlines of one attempt, resolved from the call, its target, its route and the policy
//! (most specific first), and whether the call is one that thinks before it speaks.
//!
//! What counts as life:
//! - Before the first output, only output counts: a text, reasoning or tool-call delta ends the
//!   first-token wait. Keep-alives, pings, comments and role-only chunks prove the connection is
//!   up, not that the model is answering, so a silent provider still fails over after
//!   `first_token_timeout_ms` (10 s) even behind a proxy that pings. A call that asks for
//!   reasoning, or names a model known to think first, gets `reasoning_first_token_timeout_ms`
//!   (120 s) instead, since it may legitimately show nothing for a minute.
//! - After the first output, any bytes count (keep-alives included): a stream fails as stalled
//!   only after `stream_idle_timeout_ms` (10 s) without any.
//! - A stream that keeps making progress is never cut unless `attempt_timeout_ms` is set; the
//!   total budget (`total_timeout_ms`, 600 s) bounds the whole call.
use std::time::Duration;

use serde_json::Value;

use crate::config::{DeadlineOverrides, Policy};
use crate::routing::plan::Target;
use crate::types::request::Request;

/// The deadlines of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deadlines {
    /// From sending the request to the first output.
    pub first_token: Duration,
    /// After the first output, the longest silence.
    pub idle: Duration,
    /// The whole attempt, when capped.
    pub attempt: Option<Duration>,
}

impl Deadlines {
    /// The deadlines for `req` on `target` of a route with `route` overrides.
    pub(crate) fn resolve(
        policy: &Policy,
        route: DeadlineOverrides,
        target: &Target,
        req: &Request,
    ) -> Deadlines {
        let p = &req.params;
        let call = DeadlineOverrides {
            first_token_timeout_ms: p.first_token_timeout_ms,
            reasoning_first_token_timeout_ms: None,
            stream_idle_timeout_ms: p.stream_idle_timeout_ms,
            attempt_timeout_ms: p.attempt_timeout_ms,
        };
        let o = call.or(target.deadlines).or(route);
        let mut first = o
            .first_token_timeout_ms
            .unwrap_or(policy.first_token_timeout_ms);
        if thinks(req, &target.name) {
            let reasoning = o
                .reasoning_first_token_timeout_ms
                .unwrap_or(policy.reasoning_first_token_timeout_ms);
            first = first.max(reasoning);
        }
        Deadlines {
            first_token: Duration::from_millis(first),
            idle: Duration::from_millis(
                o.stream_idle_timeout_ms
                    .unwrap_or(policy.stream_idle_timeout_ms),
            ),
            attempt: o
                .attempt_timeout_ms
                .or(policy.attempt_timeout_ms)
                .map(Duration::from_millis),
        }
    }
}

/// Whether the call may think before its first output: it asks for reasoning, or the model is
/// one that reasons by default.
pub(crate) fn thinks(req: &Request, model: &str) -> bool {
    let p = &req.params;
    if p.reasoning_effort
        .as_deref()
        .is_some_and(|e| !e.eq_ignore_ascii_case("none"))
    {
        return true;
    }
    if let Some(extra) = &p.extra {
        let enabled = |v: Option<&Value>| {
            v.is_some_and(|t| match t {
                Value::Object(o) => o.get("type").and_then(Value::as_str) != Some("disabled"),
                Value::Null | Value::Bool(false) => false,
                _ => true,
            })
        };
        let gemini = extra
            .get("generationConfig")
            .and_then(|g| g.get("thinkingConfig"))
            .or_else(|| extra.get("thinkingConfig"))
            .or_else(|| extra.get("thinking_config"));
        let gemini_on = gemini.is_some_and(|t| {
            t.get("thinkingBudget")
                .or_else(|| t.get("thinking_budget"))
                .and_then(Value::as_i64)
                != Some(0)
        });
        if enabled(extra.get("thinking")) || enabled(extra.get("reasoning")) || gemini_on {
            return true;
        }
    }
    thinking_model(model)
}

/// Models that reason before answering by default (matched on the name after any vendor
/// prefix, case-insensitively).
pub(crate) fn thinking_model(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    let name = m.rsplit('/').next().unwrap_or(&m);
    let starts = |p: &str| name.starts_with(p);
    let has = |p: &str| name.contains(p);
    (starts("o1") || starts("o3") || starts("o4"))
        || (starts("gpt-5") && !has("chat"))
        || has("thinking")
        || has("reasoner")
        || has("reasoning") && !has("non-reasoning")
        || starts("deepseek-r1")
        || has("magistral")
        || starts("qwq")
        || starts("grok-4") && !has("non-reasoning")
        || starts("grok-3-mini")
        || starts("gemini-2.5-pro")
        || (starts("gemini-2.5-flash") && !has("lite"))
        || starts("gemini-3")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(params: Value) -> Request {
        Request::from_values("p/m", json!("hi"), params).unwrap()
    }

    #[test]
    fn reasoning_requests_and_thinking_models_are_recognised() {
        assert!(thinks(&req(json!({"reasoning_effort": "high"})), "gpt-4o"));
        assert!(!thinks(&req(json!({"reasoning_effort": "none"})), "gpt-4o"));
        assert!(thinks(
            &req(json!({"extra": {"thinking": {"type": "enabled", "budget_tokens": 2048}}})),
            "claude-sonnet-4-5"
        ));
        assert!(!thinks(&req(json!({})), "claude-sonnet-4-5"));
        assert!(thinks(
            &req(
                json!({"extra": {"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}})
            ),
            "gemini-2.0-flash"
        ));
        for m in [
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "deepseek-reasoner",
            "deepseek/deepseek-r1",
            "magistral-medium-latest",
            "grok-4",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "kimi-k2-thinking",
        ] {
            assert!(thinking_model(m), "{m}");
        }
        for m in [
            "gpt-4o-mini",
            "gpt-5-chat-latest",
            "gemini-2.5-flash-lite",
            "mistral-large-latest",
            "echo",
        ] {
            assert!(!thinking_model(m), "{m}");
        }
    }
}
