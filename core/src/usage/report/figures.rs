//! The report's figures: the ledger's call events (each carries its attempts) aggregated into
//! what each chart shows, with no drawing here. Totals, cost, errors, retries, fallbacks, hedges
//! and latency percentiles are the ones `Client::usage()` reports (the same `Aggregates`, fed
//! from the ledger): over the whole period, and per time bucket for the charts over time.
//! Buckets have a round width chosen from the period (about [`BUCKETS`] of them).
use std::collections::{BTreeMap, HashMap};

use crate::types::response::Outcome;
use crate::usage::{Aggregates, Level, UsageEvent, UsageSummary, UsageTotals};

/// About how many time buckets a period is cut into.
pub(super) const BUCKETS: u64 = 40;
/// The most models given latency charts (the busiest ones); the most bars in a cost chart.
pub(super) const TOP: usize = 8;

/// p50, p95 and p99 of one bucket, at the bucket's start (ms since the epoch).
pub(super) type Percentiles = (u64, [f64; 3]);

/// The latency and time-to-first-token percentiles of the calls one model answered.
pub(super) struct ModelTimes {
    pub model: String,
    pub calls: u64,
    pub latency: Vec<Percentiles>,
    pub ttft: Vec<Percentiles>,
}

/// Everything the report draws.
pub(super) struct Figures {
    pub from_ms: u64,
    pub to_ms: u64,
    pub bucket_ms: u64,
    /// The whole period, as `Client::usage()` reports it.
    pub summary: UsageSummary,
    /// Attempts of the calls.
    pub attempts: u64,
    /// The [`TOP`] models that answered the most calls, busiest first.
    pub models: Vec<ModelTimes>,
    /// How many more models answered.
    pub other_models: usize,
    /// Cost (USD) by model, route and `tag=value`, largest first.
    pub cost_by_model: Vec<(String, f64)>,
    pub cost_by_route: Vec<(String, f64)>,
    pub cost_by_tag: Vec<(String, f64)>,
    /// Calls per bucket: ok, error, cancelled.
    pub calls_over_time: Vec<(u64, [f64; 3])>,
    /// Per error kind: calls that ended with it, attempts that did.
    pub errors: Vec<(String, [f64; 2])>,
    /// Calls by their number of attempts.
    pub attempts_per_call: Vec<(String, f64)>,
    /// Retries, fallbacks and hedges.
    pub retries: Vec<(String, f64)>,
}

/// Round bucket widths, in ms.
const STEPS: [u64; 22] = [
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    604_800_000,
];

/// The bucket width for a period: the first round width that cuts it in at most [`BUCKETS`].
pub(super) fn bucket_width(span_ms: u64) -> u64 {
    let want = span_ms.div_ceil(BUCKETS).max(1);
    STEPS
        .iter()
        .copied()
        .find(|s| *s >= want)
        .unwrap_or_else(|| want.div_ceil(86_400_000) * 86_400_000)
}

/// Builds the figures from call events, one at a time (memory: the aggregates of each bucket).
pub(super) struct Builder {
    from_ms: u64,
    to_ms: u64,
    bucket_ms: u64,
    total: Aggregates,
    buckets: BTreeMap<u64, Aggregates>,
    attempts: u64,
    attempt_errors: HashMap<String, u64>,
    per_call: BTreeMap<usize, u64>,
}

impl Builder {
    /// For events that started in `[from_ms, to_ms]`.
    pub(super) fn new(from_ms: u64, to_ms: u64) -> Builder {
        Builder {
            from_ms,
            to_ms,
            bucket_ms: bucket_width(to_ms.saturating_sub(from_ms)),
            total: Aggregates::new(from_ms),
            buckets: BTreeMap::new(),
            attempts: 0,
            attempt_errors: HashMap::new(),
            per_call: BTreeMap::new(),
        }
    }

    /// Counts a call event (attempt events are left out: their call carries them).
    pub(super) fn add(&mut self, e: &UsageEvent) {
        if e.level != Level::Call {
            return;
        }
        self.total.add(e);
        let bucket = e.started_at_ms / self.bucket_ms * self.bucket_ms;
        self.buckets
            .entry(bucket)
            .or_insert_with(|| Aggregates::new(bucket))
            .add(e);
        self.attempts += e.attempts.len() as u64;
        *self.per_call.entry(e.attempts.len().min(5)).or_default() += 1;
        for a in e.attempts.iter().filter(|a| a.outcome != Outcome::Ok) {
            if let Some(kind) = a.error_kind {
                *self
                    .attempt_errors
                    .entry(kind.as_str().to_string())
                    .or_default() += 1;
            }
        }
    }

    pub(super) fn finish(self) -> Figures {
        let summary = self.total.summary(false, self.to_ms);
        let retried: u64 = self
            .per_call
            .iter()
            .filter(|(n, _)| **n > 1)
            .map(|(_, c)| c)
            .sum();
        let buckets: Vec<(u64, UsageSummary)> = self
            .buckets
            .into_iter()
            .map(|(b, a)| (b, a.summary(false, b)))
            .collect();

        let mut busiest: Vec<(&String, &UsageTotals)> = summary
            .by_model
            .iter()
            .filter(|(_, t)| t.latency_ms.count > 0)
            .collect();
        busiest.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then_with(|| a.0.cmp(b.0)));
        let other_models = busiest.len().saturating_sub(TOP);
        let over_time = |model: &str, ttft: bool| -> Vec<Percentiles> {
            buckets
                .iter()
                .filter_map(|(b, s)| {
                    let t = s.by_model.get(model)?;
                    let p = if ttft { &t.ttft_ms } else { &t.latency_ms };
                    (p.count > 0).then_some((*b, [p.p50, p.p95, p.p99]))
                })
                .collect()
        };
        let models = busiest
            .iter()
            .take(TOP)
            .map(|(model, t)| ModelTimes {
                model: model.to_string(),
                calls: t.calls,
                latency: over_time(model, false),
                ttft: over_time(model, true),
            })
            .collect();

        let cost = |groups: &BTreeMap<String, UsageTotals>| {
            top(groups
                .iter()
                .map(|(k, t)| (k.clone(), t.cost_usd))
                .collect())
        };
        let mut errors: HashMap<String, [f64; 2]> = HashMap::new();
        for (kind, n) in &summary.total.errors_by_kind {
            errors.entry(kind.clone()).or_default()[0] += *n as f64;
        }
        if summary.total.cancelled > 0 {
            errors.entry("cancelled".into()).or_default()[0] += summary.total.cancelled as f64;
        }
        for (kind, n) in self.attempt_errors {
            errors.entry(kind).or_default()[1] += n as f64;
        }
        let mut errors: Vec<(String, [f64; 2])> = errors.into_iter().collect();
        errors.sort_by(|a, b| {
            (b.1[0] + b.1[1])
                .total_cmp(&(a.1[0] + a.1[1]))
                .then_with(|| a.0.cmp(&b.0))
        });
        let attempts_per_call = self
            .per_call
            .into_iter()
            .map(|(n, c)| {
                let label = match n {
                    0 => "0 (none sent)".to_string(),
                    1 => "1 attempt".to_string(),
                    5 => "5 or more".to_string(),
                    n => format!("{n} attempts"),
                };
                (label, c as f64)
            })
            .collect();
        let t = &summary.total;
        let retries = vec![
            (
                "attempts after a call's first".to_string(),
                t.retries as f64,
            ),
            ("calls with more than one".to_string(), retried as f64),
            ("calls a fallback answered".to_string(), t.fallbacks as f64),
            ("hedge requests sent".to_string(), t.hedges as f64),
        ];
        Figures {
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            bucket_ms: self.bucket_ms,
            attempts: self.attempts,
            models,
            other_models,
            cost_by_model: cost(&summary.by_model),
            cost_by_route: cost(&summary.by_route),
            cost_by_tag: cost(&summary.by_tag),
            calls_over_time: buckets
                .iter()
                .map(|(b, s)| {
                    let t = &s.total;
                    (*b, [t.ok as f64, t.errors as f64, t.cancelled as f64])
                })
                .collect(),
            errors,
            attempts_per_call,
            retries,
            summary,
        }
    }
}

/// Sorted by value, largest first; past `TOP`, the rest summed in one `(N more)` entry.
fn top(mut v: Vec<(String, f64)>) -> Vec<(String, f64)> {
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if v.len() > TOP + 1 {
        let rest: f64 = v[TOP..].iter().map(|(_, c)| c).sum();
        let n = v.len() - TOP;
        v.truncate(TOP);
        v.push((format!("({n} more)"), rest));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::error::ErrorKind;
    use crate::types::response::Attempt;
    use crate::usage::Usage;

    fn attempt(model: &str, ok: bool) -> Attempt {
        Attempt {
            model: model.into(),
            provider: "p".into(),
            outcome: if ok { Outcome::Ok } else { Outcome::Error },
            error_kind: (!ok).then_some(ErrorKind::Server),
            error_message: None,
            status: None,
            latency_ms: 1.0,
            ttft_ms: None,
            usage: Usage::none(),
            number: 1,
            hedge: false,
            fallback: false,
        }
    }

    fn call(t: u64, attempts: Vec<Attempt>, latency: f64) -> UsageEvent {
        let ok = attempts.last().is_some_and(|a| a.outcome == Outcome::Ok);
        UsageEvent {
            request_id: format!("pf-{t}"),
            parent_id: None,
            level: Level::Call,
            started_at_ms: t,
            route: None,
            model: "route/x".into(),
            provider: "p".into(),
            outcome: if ok { Outcome::Ok } else { Outcome::Error },
            error_kind: (!ok).then_some(ErrorKind::Server),
            error_message: None,
            streamed: false,
            usage: Usage {
                cost_usd: Some(0.5),
                ..Usage::none()
            },
            latency_ms: latency,
            ttft_ms: Some(latency / 2.0),
            attempt: None,
            hedge: false,
            fallback: false,
            attempts,
            tags: Default::default(),
            metadata: Default::default(),
        }
    }

    #[test]
    fn round_buckets() {
        assert_eq!(bucket_width(3_000), 100);
        assert_eq!(bucket_width(3_600_000), 120_000);
        assert_eq!(bucket_width(0), 100);
    }

    #[test]
    fn calls_feed_the_usage_aggregates_per_bucket_and_attempts_their_errors() {
        let mut b = Builder::new(0, 250);
        for i in 0..10u32 {
            // Mock options are not part of the model's name.
            let model = if i % 2 == 0 { "a/m" } else { "a/m;ttft_ms=5" };
            b.add(&call(
                u64::from(i),
                vec![attempt(model, true)],
                f64::from(i + 1),
            ));
        }
        b.add(&call(
            200,
            vec![attempt("b/m", false), attempt("a/m", true)],
            30.0,
        ));
        b.add(&call(210, vec![attempt("b/m", false)], 5.0));
        let f = b.finish();
        let t = &f.summary.total;
        assert_eq!((t.calls, t.ok, t.errors, f.attempts), (12, 11, 1, 13));
        assert_eq!(f.models[0].model, "a/m");
        assert_eq!(f.models[0].calls, 11);
        // Two 100 ms buckets for a/m: ten calls of 1..=10 ms, then one of 30 ms.
        assert_eq!(
            f.models[0].latency,
            vec![(0, [5.0, 10.0, 10.0]), (200, [30.0, 30.0, 30.0])]
        );
        assert_eq!(
            f.calls_over_time,
            vec![(0, [10.0, 0.0, 0.0]), (200, [1.0, 1.0, 0.0])]
        );
        assert_eq!(f.errors, vec![("server".to_string(), [1.0, 2.0])]);
        assert_eq!(
            f.retries[0],
            ("attempts after a call's first".to_string(), 1.0)
        );
        assert_eq!(f.retries[1].1, 1.0);
        assert_eq!(f.cost_by_model[0], ("a/m".to_string(), 5.5));
    }
}
