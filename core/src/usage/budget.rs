//! Budgets: limits in USD and/or tokens per client, route or tag, over a window. Before each
//! attempt its worst-case cost is reserved atomically in every budget that applies; after it,
//! the reservation is replaced by what the attempt really cost. So concurrent calls can never
//! overspend: an attempt whose worst case does not fit is refused before anything is sent.
//!
//! # The worst case of an attempt
//! - Input: one token per byte of the messages' text (tokenizers never produce more tokens than
//!   bytes), 8 per message, 1,600 per image part, tool arguments included.
//! - Output: the request's `max_tokens`, else the model's maximum output from the catalogue, else
//!   4,096; when the request sets none, the budget sets `max_tokens` to that figure, so that the
//!   provider cannot produce more than was reserved.
//! - USD: those tokens at the catalogue's price (uncached input, output). A model without a
//!   price cannot be reserved under a USD budget: the attempt is refused (add a price under
//!   `pricing.models`).
//! - After the attempt: its reported (or estimated) usage and cost; when unknown (a stream cut
//!   before its usage arrived), the reservation stays spent.
//!
//! # Windows
//! Tumbling windows aligned to the Unix epoch: `1h` windows start on the hour (UTC), `1d` at
//! midnight UTC; `total` never resets. The state lives behind [`BudgetStore`], so that a shared
//! store (e.g. Redis with `INCRBYFLOAT` and a TTL per window key) can replace the in-process one.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{Catalogue, Usage};
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::message::{Content, ContentPart};
use crate::types::request::Request;

/// One budget of the config (`budgets = [{ limit_usd = 5.0, window = "1h", scope = "client" }]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// The most USD spent in a window.
    #[serde(default)]
    pub limit_usd: Option<f64>,
    /// The most tokens (input + output) in a window.
    #[serde(default)]
    pub limit_tokens: Option<u64>,
    /// `30s`, `15m`, `1h`, `1d`, `7d`, ... or `total` (never resets).
    #[serde(default = "total")]
    pub window: String,
    /// `client` (every call), `route:<name>`, or `tag:<key>=<value>`.
    #[serde(default = "client")]
    pub scope: String,
}

fn total() -> String {
    "total".into()
}

fn client() -> String {
    "client".into()
}

/// An amount in a budget.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Amount {
    pub usd: f64,
    pub tokens: u64,
}

/// Where budget state lives. `reserve` must be atomic per key: check and add in one step.
pub trait BudgetStore: Send + Sync {
    /// Adds `amount` to what `key` holds (spent plus reserved) if the result stays within
    /// `limit` (a limit of `None` is not checked); else leaves it and returns what it holds.
    fn reserve(
        &self,
        key: &str,
        amount: Amount,
        limit_usd: Option<f64>,
        limit_tokens: Option<u64>,
    ) -> std::result::Result<(), Amount>;
    /// Replaces a reservation by what was really spent (`spent` may be less or more).
    fn settle(&self, key: &str, reserved: Amount, spent: Amount);
}

/// The in-process store.
#[derive(Default)]
pub struct MemoryStore {
    held: Mutex<HashMap<String, Amount>>,
}

impl BudgetStore for MemoryStore {
    fn reserve(
        &self,
        key: &str,
        amount: Amount,
        limit_usd: Option<f64>,
        limit_tokens: Option<u64>,
    ) -> std::result::Result<(), Amount> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = held.get(key).copied().unwrap_or_default();
        let usd = now.usd + amount.usd;
        let tokens = now.tokens.saturating_add(amount.tokens);
        if limit_usd.is_some_and(|l| usd > l) || limit_tokens.is_some_and(|l| tokens > l) {
            return Err(now);
        }
        held.insert(key.to_string(), Amount { usd, tokens });
        Ok(())
    }

    fn settle(&self, key: &str, reserved: Amount, spent: Amount) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = held.get_mut(key) {
            h.usd = (h.usd - reserved.usd + spent.usd).max(0.0);
            h.tokens = h
                .tokens
                .saturating_sub(reserved.tokens)
                .saturating_add(spent.tokens);
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Scope {
    Client,
    Route(String),
    Tag(String, String),
}

#[derive(Clone, Debug)]
struct Rule {
    scope: Scope,
    limit_usd: Option<f64>,
    limit_tokens: Option<u64>,
    /// `None`: the whole life of the client.
    window_ms: Option<u64>,
    /// The key prefix (`budget[0]`), for the store and messages.
    name: String,
    label: String,
}

/// What one attempt reserved, to settle when it ends.
#[derive(Debug, Default)]
pub(crate) struct Reservation {
    held: Vec<(String, Amount)>,
}

/// The budgets of one client.
pub(crate) struct Budgets {
    rules: Vec<Rule>,
    store: Arc<dyn BudgetStore>,
}

impl Budgets {
    /// The config's budgets; errors name their key path.
    pub(crate) fn new(configs: &[BudgetConfig], store: Arc<dyn BudgetStore>) -> Result<Budgets> {
        let mut rules = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let at = format!("config key `budgets[{i}]");
            if c.limit_usd.is_none() && c.limit_tokens.is_none() {
                return Err(Error::config(format!(
                    "{at}`: set `limit_usd` or `limit_tokens`"
                )));
            }
            if let Some(l) = c.limit_usd {
                if !(l.is_finite() && l >= 0.0) {
                    return Err(Error::config(format!(
                        "{at}.limit_usd`: expected a non-negative number, got {l}"
                    )));
                }
            }
            let window_ms = parse_window(&c.window).ok_or_else(|| {
                Error::config(format!(
                    "{at}.window`: expected a duration like `30s`, `15m`, `1h`, `1d` or `total`, got `{}`",
                    c.window
                ))
            })?;
            let scope = parse_scope(&c.scope).ok_or_else(|| {
                Error::config(format!(
                    "{at}.scope`: expected `client`, `route:<name>` or `tag:<key>=<value>`, got `{}`",
                    c.scope
                ))
            })?;
            let mut label = match (c.limit_usd, c.limit_tokens) {
                (Some(u), Some(t)) => format!("${u} / {t} tokens"),
                (Some(u), None) => format!("${u}"),
                (None, Some(t)) => format!("{t} tokens"),
                (None, None) => String::new(),
            };
            label = format!("{label} per {} ({})", c.window, c.scope);
            rules.push(Rule {
                scope,
                limit_usd: c.limit_usd,
                limit_tokens: c.limit_tokens,
                window_ms,
                name: format!("budget[{i}]"),
                label,
            });
        }
        Ok(Budgets { rules, store })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Reserves the worst case of an attempt of `req` on `model` in every budget that applies,
    /// all or nothing. Returns the reservation, and the `max_tokens` the attempt must send when
    /// the request set none (see the module docs). `Err`: a `budget_exceeded` error naming the
    /// budget; nothing was reserved.
    pub(crate) fn reserve(
        &self,
        req: &Request,
        model: &str,
        route: Option<&str>,
        catalogue: &Catalogue,
        now_ms: u64,
    ) -> Result<(Reservation, Option<u32>)> {
        let applying: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| applies(r, req, route))
            .collect();
        let mut reservation = Reservation::default();
        if applying.is_empty() {
            return Ok((reservation, None));
        }
        let input = worst_input_tokens(req);
        let (output, set_max) = match req.params.max_tokens {
            Some(m) => (u64::from(m), None),
            None => {
                let m = catalogue
                    .max_output(model)
                    .unwrap_or(4096)
                    .min(u64::from(u32::MAX)) as u32;
                (u64::from(m), Some(m))
            }
        };
        let tokens = input.saturating_add(output);
        let usd = if applying.iter().any(|r| r.limit_usd.is_some()) {
            let worst = Usage {
                input_tokens: input,
                output_tokens: output,
                source: super::UsageSource::Estimated,
                ..Usage::default()
            };
            match catalogue.cost(model, &worst) {
                Some(c) => c,
                None => {
                    return Err(Error::new(
                        ErrorKind::BudgetExceeded,
                        format!(
                            "no price is known for `{}`, so a USD budget cannot reserve its cost (add it under `pricing.models`)",
                            model.split(';').next().unwrap_or(model)
                        ),
                    ))
                }
            }
        } else {
            0.0
        };
        let amount = Amount { usd, tokens };
        for rule in applying {
            let key = match rule.window_ms {
                Some(w) if w > 0 => format!("{}@{}", rule.name, now_ms / w),
                _ => rule.name.clone(),
            };
            if let Err(held) = self
                .store
                .reserve(&key, amount, rule.limit_usd, rule.limit_tokens)
            {
                self.release(reservation);
                return Err(Error::new(
                    ErrorKind::BudgetExceeded,
                    format!(
                        "budget {} ({}) would be exceeded: {} held, this attempt may use up to ${usd:.6} / {tokens} tokens",
                        rule.name,
                        rule.label,
                        format_amount(held)
                    ),
                ));
            }
            reservation.held.push((key, amount));
        }
        Ok((reservation, set_max))
    }

    /// Replaces a reservation by what the attempt spent: its usage and cost when known, else
    /// (unknown usage or cost) the reservation stays spent.
    pub(crate) fn settle(&self, reservation: Reservation, usage: &Usage) {
        for (key, reserved) in reservation.held {
            let spent = if usage.is_known() {
                Amount {
                    usd: usage.cost_usd.unwrap_or(reserved.usd),
                    tokens: usage.total_tokens(),
                }
            } else {
                reserved
            };
            self.store.settle(&key, reserved, spent);
        }
    }

    fn release(&self, reservation: Reservation) {
        for (key, reserved) in reservation.held {
            self.store.settle(&key, reserved, Amount::default());
        }
    }
}

fn format_amount(a: Amount) -> String {
    format!("${:.6} / {} tokens", a.usd, a.tokens)
}

fn applies(rule: &Rule, req: &Request, route: Option<&str>) -> bool {
    match &rule.scope {
        Scope::Client => true,
        Scope::Route(name) => route == Some(name.as_str()),
        Scope::Tag(k, v) => {
            req.params
                .tags
                .as_ref()
                .and_then(|t| t.get(k))
                .is_some_and(|x| match x {
                    serde_json::Value::String(s) => s == v,
                    other => v.parse::<serde_json::Value>().is_ok_and(|p| &p == other),
                })
        }
    }
}

/// One token per byte of text (an upper bound for byte-level tokenizers), 8 per message, 1,600
/// per image.
fn worst_input_tokens(req: &Request) -> u64 {
    let mut n: u64 = 0;
    for m in &req.messages {
        n = n.saturating_add(8);
        match &m.content {
            Some(Content::Text(t)) => n = n.saturating_add(t.len() as u64),
            Some(Content::Parts(parts)) => {
                for p in parts {
                    n = n.saturating_add(match p {
                        ContentPart::Text { text } => text.len() as u64,
                        ContentPart::ImageUrl { .. } => 1600,
                    });
                }
            }
            None => {}
        }
        for tc in &m.tool_calls {
            n = n.saturating_add((tc.function.name.len() + tc.function.arguments.len()) as u64);
        }
    }
    if let Some(tools) = &req.params.tools {
        n = n.saturating_add(serde_json::to_string(tools).map_or(0, |s| s.len() as u64));
    }
    n
}

fn parse_window(s: &str) -> Option<Option<u64>> {
    let s = s.trim();
    if s == "total" || s == "none" {
        return Some(None);
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok().filter(|n| *n > 0)?;
    let unit_ms: u64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms).map(Some)
}

fn parse_scope(s: &str) -> Option<Scope> {
    let s = s.trim();
    if s == "client" {
        return Some(Scope::Client);
    }
    if let Some(name) = s.strip_prefix("route:").filter(|n| !n.is_empty()) {
        return Some(Scope::Route(name.to_string()));
    }
    let (k, v) = s.strip_prefix("tag:")?.split_once('=')?;
    (!k.is_empty()).then(|| Scope::Tag(k.to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn budgets(v: serde_json::Value) -> Result<Budgets> {
        let configs: Vec<BudgetConfig> = serde_json::from_value(v).unwrap();
        Budgets::new(&configs, Arc::new(MemoryStore::default()))
    }

    #[test]
    fn windows_scopes_and_bad_documents() {
        assert_eq!(parse_window("1h"), Some(Some(3_600_000)));
        assert_eq!(parse_window("total"), Some(None));
        assert_eq!(parse_window("1y"), None);
        assert_eq!(parse_window("0s"), None);
        assert_eq!(
            parse_scope("tag:team=search"),
            Some(Scope::Tag("team".into(), "search".into()))
        );
        let e = budgets(json!([{"limit_usd": 1.0, "window": "soon"}]))
            .err()
            .unwrap();
        assert!(e.message.contains("budgets[0].window"), "{}", e.message);
        let e = budgets(json!([{"window": "1h"}])).err().unwrap();
        assert!(e.message.contains("limit_usd"), "{}", e.message);
        let e = budgets(json!([{"limit_tokens": 5, "scope": "team"}]))
            .err()
            .unwrap();
        assert!(e.message.contains("budgets[0].scope"), "{}", e.message);
    }

    #[test]
    fn reservations_are_all_or_nothing_and_settle_to_what_was_spent() {
        let b = budgets(json!([
            {"limit_tokens": 1000, "scope": "client"},
            {"limit_tokens": 300, "scope": "tag:team=a"},
        ]))
        .unwrap();
        let cat = Catalogue::builtin();
        let req = Request::from_values(
            "mock/x",
            json!("x".repeat(92)),
            json!({"max_tokens": 100, "tags": {"team": "a"}}),
        )
        .unwrap();
        // 92 bytes + 8 + 100 output = 200 tokens per attempt.
        let (first, set) = b.reserve(&req, "mock/x", None, cat, 0).unwrap();
        assert_eq!(set, None);
        let e = b.reserve(&req, "mock/x", None, cat, 0).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BudgetExceeded);
        assert!(e.message.contains("budget[1]"), "{}", e.message);
        // The refused attempt took nothing from the client budget either.
        let spent = Usage {
            input_tokens: 30,
            output_tokens: 20,
            source: super::super::UsageSource::Reported,
            ..Usage::default()
        };
        b.settle(first, &spent);
        // 50 spent in the tag budget: another 200 fits.
        let second = b.reserve(&req, "mock/x", None, cat, 0);
        assert!(second.is_ok());
        // Without max_tokens the budget sets it (4,096 for a model the catalogue does not know);
        // that worst case no longer fits the client budget.
        let open = Request::from_values("mock/x", json!("hi"), json!({})).unwrap();
        let e = b.reserve(&open, "mock/x", None, cat, 0).unwrap_err();
        assert!(e.message.contains("budget[0]"), "{}", e.message);
        let small = budgets(json!([{"limit_tokens": 10000}])).unwrap();
        let (_, set) = small.reserve(&open, "mock/x", None, cat, 0).unwrap();
        assert_eq!(set, Some(4096));
    }

    #[test]
    fn a_usd_budget_needs_a_price() {
        let b = budgets(json!([{"limit_usd": 1.0}])).unwrap();
        let req = Request::from_values("local/x", json!("hi"), json!({})).unwrap();
        let e = b
            .reserve(&req, "local/unpriced", None, Catalogue::builtin(), 0)
            .unwrap_err();
        assert!(e.message.contains("no price"), "{}", e.message);
        let req = Request::from_values(
            "openai/gpt-4o-mini",
            json!("hi"),
            json!({"max_tokens": 1000}),
        )
        .unwrap();
        assert!(b
            .reserve(&req, "openai/gpt-4o-mini", None, Catalogue::builtin(), 0)
            .is_ok());
    }
}
