//! `client.usage()` and `client.deliveryStats()`: the core's usage aggregates and delivery
//! counters as plain JS objects with camelCase fields.
use std::collections::HashMap;

use napi_derive::napi;

use polyfuse_core as core;

/// Latency percentiles in milliseconds, over `count` samples.
#[napi(object)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub count: f64,
}

/// The running totals of one group of calls.
#[napi(object)]
pub struct UsageTotals {
    pub calls: f64,
    pub ok: f64,
    pub errors: f64,
    pub cancelled: f64,
    /// Errors by kind (`rate_limited`, ...).
    pub errors_by_kind: HashMap<String, f64>,
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub cached_input_tokens: f64,
    pub cache_write_tokens: f64,
    pub reasoning_tokens: f64,
    /// Over the calls whose cost is known.
    pub cost_usd: f64,
    /// Calls whose cost is unknown.
    pub unpriced_calls: f64,
    pub retries: f64,
    pub fallbacks: f64,
    pub hedges: f64,
    pub latency_ms: Percentiles,
    pub ttft_ms: Percentiles,
}

/// `client.usage()`: totals since `sinceMs` (Unix ms), overall and by model (the one that
/// answered), provider, route and tag (`key=value`).
#[napi(object)]
pub struct UsageSummary {
    pub since_ms: f64,
    pub total: UsageTotals,
    pub by_model: HashMap<String, UsageTotals>,
    pub by_provider: HashMap<String, UsageTotals>,
    pub by_route: HashMap<String, UsageTotals>,
    pub by_tag: HashMap<String, UsageTotals>,
}

/// Usage event delivery counters.
#[napi(object)]
pub struct DeliveryStats {
    pub emitted: f64,
    pub delivered: f64,
    /// Dropped because the queue was full (or the client closed).
    pub dropped: f64,
    pub pending: f64,
}

fn percentiles(p: &core::usage::Percentiles) -> Percentiles {
    Percentiles {
        p50: p.p50,
        p95: p.p95,
        p99: p.p99,
        count: p.count as f64,
    }
}

fn totals(t: &core::UsageTotals) -> UsageTotals {
    UsageTotals {
        calls: t.calls as f64,
        ok: t.ok as f64,
        errors: t.errors as f64,
        cancelled: t.cancelled as f64,
        errors_by_kind: t
            .errors_by_kind
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64))
            .collect(),
        input_tokens: t.input_tokens as f64,
        output_tokens: t.output_tokens as f64,
        cached_input_tokens: t.cached_input_tokens as f64,
        cache_write_tokens: t.cache_write_tokens as f64,
        reasoning_tokens: t.reasoning_tokens as f64,
        cost_usd: t.cost_usd,
        unpriced_calls: t.unpriced_calls as f64,
        retries: t.retries as f64,
        fallbacks: t.fallbacks as f64,
        hedges: t.hedges as f64,
        latency_ms: percentiles(&t.latency_ms),
        ttft_ms: percentiles(&t.ttft_ms),
    }
}

fn groups(
    g: &std::collections::BTreeMap<String, core::UsageTotals>,
) -> HashMap<String, UsageTotals> {
    g.iter().map(|(k, v)| (k.clone(), totals(v))).collect()
}

pub(crate) fn summary_to_js(s: &core::UsageSummary) -> UsageSummary {
    UsageSummary {
        since_ms: s.since_ms as f64,
        total: totals(&s.total),
        by_model: groups(&s.by_model),
        by_provider: groups(&s.by_provider),
        by_route: groups(&s.by_route),
        by_tag: groups(&s.by_tag),
    }
}

pub(crate) fn delivery_to_js(d: core::DeliveryStats) -> DeliveryStats {
    DeliveryStats {
        emitted: d.emitted as f64,
        delivered: d.delivered as f64,
        dropped: d.dropped as f64,
        pending: d.pending as f64,
    }
}
