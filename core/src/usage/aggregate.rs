//! Usage aggregates: `Client::usage()`. Every call's event updates, at emission (not via the
//! callback queue, so a summary read right after a call includes it), the running totals of
//! the client and of each model (the one that answered), provider, route and tag (`key=value`):
//! calls, errors by kind, cancellations, tokens by kind, cost (and how many calls had no known
//! cost), retries, fallbacks, hedges, and latency / time-to-first-token percentiles.
//!
//! Memory is bounded: percentiles come from HDR histograms (2 significant digits, 1 ms to 1 h),
//! and at most [`MAX_GROUPS`] groups are kept per dimension (later ones count under `(other)`).
use std::collections::BTreeMap;
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{Level, UsageEvent};
use crate::types::response::Outcome;

/// The most groups kept per dimension (model, provider, route, tag).
pub const MAX_GROUPS: usize = 1000;
const OTHER: &str = "(other)";

/// Latency percentiles, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// How many samples they are over.
    pub count: u64,
}

/// The running totals of one group.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UsageTotals {
    pub calls: u64,
    pub ok: u64,
    pub errors: u64,
    pub cancelled: u64,
    /// Errors by kind (`rate_limited`, ...).
    pub errors_by_kind: BTreeMap<String, u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    /// Summed over the calls whose cost is known.
    pub cost_usd: f64,
    /// Calls whose cost is unknown (an unpriced model, or usage nobody reported).
    pub unpriced_calls: u64,
    /// Attempts beyond each call's first.
    pub retries: u64,
    /// Calls answered by a target other than their first.
    pub fallbacks: u64,
    /// Hedge requests sent.
    pub hedges: u64,
    pub latency_ms: Percentiles,
    pub ttft_ms: Percentiles,
}

/// `Client::usage()`: the totals of the client and of each group since the client was built or
/// the aggregates were last reset.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UsageSummary {
    /// Since when (milliseconds since the Unix epoch).
    pub since_ms: u64,
    pub total: UsageTotals,
    pub by_model: BTreeMap<String, UsageTotals>,
    pub by_provider: BTreeMap<String, UsageTotals>,
    pub by_route: BTreeMap<String, UsageTotals>,
    /// By `key=value` of the calls' tags.
    pub by_tag: BTreeMap<String, UsageTotals>,
}

struct Group {
    totals: UsageTotals,
    latency: Option<Histogram<u32>>,
    ttft: Option<Histogram<u32>>,
}

impl Group {
    fn new() -> Group {
        let hist = || Histogram::<u32>::new_with_bounds(1, 3_600_000, 2).ok();
        Group {
            totals: UsageTotals::default(),
            latency: hist(),
            ttft: hist(),
        }
    }

    fn add(&mut self, e: &UsageEvent) {
        let t = &mut self.totals;
        t.calls += 1;
        match e.outcome {
            Outcome::Ok => t.ok += 1,
            Outcome::Cancelled => t.cancelled += 1,
            Outcome::Error => {
                t.errors += 1;
                if let Some(k) = e.error_kind {
                    *t.errors_by_kind.entry(k.as_str().to_string()).or_default() += 1;
                }
            }
        }
        let u = &e.usage;
        t.input_tokens = t.input_tokens.saturating_add(u.input_tokens);
        t.output_tokens = t.output_tokens.saturating_add(u.output_tokens);
        t.cached_input_tokens = t.cached_input_tokens.saturating_add(u.cached_input_tokens);
        t.cache_write_tokens = t.cache_write_tokens.saturating_add(u.cache_write_tokens);
        t.reasoning_tokens = t.reasoning_tokens.saturating_add(u.reasoning_tokens);
        match u.cost_usd.filter(|c| c.is_finite()) {
            Some(c) => t.cost_usd += c,
            None => t.unpriced_calls += 1,
        }
        t.retries += e.attempts.len().saturating_sub(1) as u64;
        t.fallbacks += u64::from(e.fallback);
        t.hedges += e.attempts.iter().filter(|a| a.hedge).count() as u64;
        record(&mut self.latency, e.latency_ms);
        if let Some(ttft) = e.ttft_ms {
            record(&mut self.ttft, ttft);
        }
    }

    fn snapshot(&self) -> UsageTotals {
        let mut t = self.totals.clone();
        t.latency_ms = percentiles(&self.latency);
        t.ttft_ms = percentiles(&self.ttft);
        t
    }
}

fn record(h: &mut Option<Histogram<u32>>, ms: f64) {
    if let Some(h) = h {
        let v = if ms.is_finite() {
            ms.round().max(1.0)
        } else {
            1.0
        };
        h.saturating_record((v as u64).min(3_600_000));
    }
}

fn percentiles(h: &Option<Histogram<u32>>) -> Percentiles {
    match h {
        Some(h) if !h.is_empty() => Percentiles {
            p50: h.value_at_quantile(0.50) as f64,
            p95: h.value_at_quantile(0.95) as f64,
            p99: h.value_at_quantile(0.99) as f64,
            count: h.len(),
        },
        _ => Percentiles::default(),
    }
}

#[derive(Default)]
struct Dimension {
    groups: BTreeMap<String, Group>,
}

impl Dimension {
    fn add(&mut self, key: &str, e: &UsageEvent) {
        let key = if self.groups.contains_key(key) || self.groups.len() < MAX_GROUPS {
            key
        } else {
            OTHER
        };
        self.groups
            .entry(key.to_string())
            .or_insert_with(Group::new)
            .add(e);
    }

    fn snapshot(&self) -> BTreeMap<String, UsageTotals> {
        self.groups
            .iter()
            .map(|(k, g)| (k.clone(), g.snapshot()))
            .collect()
    }
}

struct State {
    since_ms: u64,
    total: Group,
    model: Dimension,
    provider: Dimension,
    route: Dimension,
    tag: Dimension,
}

impl State {
    fn new(since_ms: u64) -> State {
        State {
            since_ms,
            total: Group::new(),
            model: Dimension::default(),
            provider: Dimension::default(),
            route: Dimension::default(),
            tag: Dimension::default(),
        }
    }
}

/// The aggregates of one client.
pub(crate) struct Aggregates {
    state: Mutex<State>,
}

impl Aggregates {
    pub(crate) fn new(now_ms: u64) -> Aggregates {
        Aggregates {
            state: Mutex::new(State::new(now_ms)),
        }
    }

    /// Counts a call's event (attempt events are summed into their call's).
    pub(crate) fn add(&self, e: &UsageEvent) {
        if e.level != Level::Call {
            return;
        }
        // The model that answered (or was tried last), not the route name.
        let model = e
            .attempts
            .last()
            .map(|a| a.model.split(';').next().unwrap_or(&a.model))
            .unwrap_or(&e.model);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.total.add(e);
        st.model.add(model, e);
        st.provider.add(&e.provider, e);
        if let Some(route) = &e.route {
            st.route.add(route, e);
        }
        for (k, v) in &e.tags {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            st.tag.add(&format!("{k}={v}"), e);
        }
    }

    /// The totals now; with `reset`, they start again from zero.
    pub(crate) fn summary(&self, reset: bool, now_ms: u64) -> UsageSummary {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let out = UsageSummary {
            since_ms: st.since_ms,
            total: st.total.snapshot(),
            by_model: st.model.snapshot(),
            by_provider: st.provider.snapshot(),
            by_route: st.route.snapshot(),
            by_tag: st.tag.snapshot(),
        };
        if reset {
            *st = State::new(now_ms);
        }
        out
    }
}
