//! The report's figures: the ledger's rows ([`Row`], read by `report::load`) aggregated into what
//! each chart shows, with no drawing here. Time is cut into buckets of a round width chosen from
//! the period (about [`BUCKETS`] of them); percentiles are nearest-rank. Models are named as the
//! pricing catalogue names them: without mock-server options (`m;ttft_ms=5` is `m`).
use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

/// About how many time buckets a period is cut into.
pub(super) const BUCKETS: u64 = 40;
/// The most models given latency charts (the busiest ones); the most bars in a cost chart.
pub(super) const TOP: usize = 8;

/// One event, as far as the report needs it.
pub(super) struct Row {
    pub started_at_ms: u64,
    /// A call event (else an attempt).
    pub call: bool,
    pub model: String,
    pub route: Option<String>,
    pub outcome: String,
    pub error_kind: Option<String>,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// An attempt's number in its call.
    pub attempt: u32,
    pub hedge: bool,
    pub fallback: bool,
    /// A call's number of attempts.
    pub attempts: u32,
    pub tags: Map<String, Value>,
}

/// p50, p95 and p99 of one bucket, at the bucket's start (ms since the epoch).
pub(super) type Percentiles = (u64, [f64; 3]);

/// The latency and time-to-first-token percentiles of one model's successful attempts.
pub(super) struct ModelTimes {
    pub model: String,
    /// Its successful attempts.
    pub attempts: u64,
    pub latency: Vec<Percentiles>,
    pub ttft: Vec<Percentiles>,
}

/// Sums over the whole period.
#[derive(Default)]
pub(super) struct Totals {
    pub events: u64,
    pub calls: u64,
    pub ok: u64,
    pub errors: u64,
    pub cancelled: u64,
    pub attempts: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Of the calls whose cost is known.
    pub cost_usd: f64,
    /// Calls whose cost is unknown (a model with no price): left out of every cost figure.
    pub unknown_cost: u64,
}

/// Everything the report draws.
pub(super) struct Figures {
    pub from_ms: u64,
    pub to_ms: u64,
    pub bucket_ms: u64,
    pub totals: Totals,
    /// The [`TOP`] models with the most successful attempts, busiest first.
    pub models: Vec<ModelTimes>,
    /// How many more models answered.
    pub other_models: usize,
    /// Cost (USD) by the model of each attempt, by route and by `tag=value` of each call.
    pub cost_by_model: Vec<(String, f64)>,
    pub cost_by_route: Vec<(String, f64)>,
    pub cost_by_tag: Vec<(String, f64)>,
    /// Calls per bucket: ok, error, cancelled.
    pub calls_over_time: Vec<(u64, [f64; 3])>,
    /// Per error kind: calls that ended with it, attempts that did.
    pub errors: Vec<(String, [f64; 2])>,
    /// Calls by their number of attempts.
    pub attempts_per_call: Vec<(String, f64)>,
    /// Retries on the same target, fallback attempts, hedges, calls a fallback answered.
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

/// The nearest-rank percentile `p` (0..=1) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn percentiles(by_bucket: BTreeMap<u64, Vec<f64>>) -> Vec<Percentiles> {
    by_bucket
        .into_iter()
        .map(|(b, mut v)| {
            v.sort_by(f64::total_cmp);
            (
                b,
                [
                    percentile(&v, 0.50),
                    percentile(&v, 0.95),
                    percentile(&v, 0.99),
                ],
            )
        })
        .collect()
}

/// Sorted by value, largest first; past `TOP`, the rest summed in one `(N more)` entry.
fn top(map: HashMap<String, f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if v.len() > TOP + 1 {
        let rest: f64 = v[TOP..].iter().map(|(_, c)| c).sum();
        let n = v.len() - TOP;
        v.truncate(TOP);
        v.push((format!("({n} more)"), rest));
    }
    v
}

/// A model without mock-server options, as the pricing catalogue reads it.
fn model_name(model: &str) -> &str {
    model.split_once(';').map_or(model, |(m, _)| m)
}

/// A tag as a label: `key=value` (strings unquoted).
fn tag_label(key: &str, value: &Value) -> String {
    match value {
        Value::String(s) => format!("{key}={s}"),
        other => format!("{key}={other}"),
    }
}

/// Aggregates the rows (any order) into the report's figures.
pub(super) fn aggregate(rows: &[Row]) -> Figures {
    let from_ms = rows.iter().map(|r| r.started_at_ms).min().unwrap_or(0);
    let to_ms = rows.iter().map(|r| r.started_at_ms).max().unwrap_or(0);
    let bucket_ms = bucket_width(to_ms - from_ms);
    let bucket = |t: u64| t / bucket_ms * bucket_ms;

    let mut totals = Totals {
        events: rows.len() as u64,
        ..Totals::default()
    };
    let mut latency: HashMap<&str, BTreeMap<u64, Vec<f64>>> = HashMap::new();
    let mut ttft: HashMap<&str, BTreeMap<u64, Vec<f64>>> = HashMap::new();
    let mut attempts_of: HashMap<&str, u64> = HashMap::new();
    let mut cost_by_model: HashMap<String, f64> = HashMap::new();
    let mut cost_by_route: HashMap<String, f64> = HashMap::new();
    let mut cost_by_tag: HashMap<String, f64> = HashMap::new();
    let mut over_time: BTreeMap<u64, [f64; 3]> = BTreeMap::new();
    let mut errors: HashMap<String, [f64; 2]> = HashMap::new();
    let mut per_call: BTreeMap<u32, f64> = BTreeMap::new();
    let mut retries = [0f64; 5];

    for r in rows {
        let outcome = match r.outcome.as_str() {
            "ok" => 0,
            "error" => 1,
            _ => 2,
        };
        if let Some(kind) = r.error_kind.as_deref().filter(|_| outcome != 0) {
            errors.entry(kind.to_string()).or_default()[usize::from(!r.call)] += 1.0;
        }
        if r.call {
            totals.calls += 1;
            match outcome {
                0 => totals.ok += 1,
                1 => totals.errors += 1,
                _ => totals.cancelled += 1,
            }
            totals.input_tokens = totals.input_tokens.saturating_add(r.input_tokens);
            totals.output_tokens = totals.output_tokens.saturating_add(r.output_tokens);
            over_time.entry(bucket(r.started_at_ms)).or_default()[outcome] += 1.0;
            *per_call.entry(r.attempts.min(5)).or_default() += 1.0;
            if r.fallback {
                retries[3] += 1.0;
            }
            if r.attempts > 1 {
                retries[4] += 1.0;
            }
            match r.cost_usd {
                Some(c) => {
                    totals.cost_usd += c;
                    let route = r.route.as_deref().unwrap_or("(no route)");
                    *cost_by_route.entry(route.to_string()).or_default() += c;
                    for (k, v) in &r.tags {
                        *cost_by_tag.entry(tag_label(k, v)).or_default() += c;
                    }
                }
                None => totals.unknown_cost += 1,
            }
        } else {
            totals.attempts += 1;
            let model = model_name(&r.model);
            if let Some(c) = r.cost_usd {
                *cost_by_model.entry(model.to_string()).or_default() += c;
            }
            if r.hedge {
                retries[2] += 1.0;
            } else if r.fallback {
                retries[1] += 1.0;
            } else if r.attempt > 1 {
                retries[0] += 1.0;
            }
            if outcome == 0 {
                *attempts_of.entry(model).or_default() += 1;
                let b = bucket(r.started_at_ms);
                latency
                    .entry(model)
                    .or_default()
                    .entry(b)
                    .or_default()
                    .push(r.latency_ms);
                if let Some(t) = r.ttft_ms {
                    ttft.entry(model).or_default().entry(b).or_default().push(t);
                }
            }
        }
    }

    let mut busiest: Vec<(&str, u64)> = attempts_of.into_iter().collect();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let other_models = busiest.len().saturating_sub(TOP);
    let models = busiest
        .into_iter()
        .take(TOP)
        .map(|(model, attempts)| ModelTimes {
            model: model.to_string(),
            attempts,
            latency: percentiles(latency.remove(model).unwrap_or_default()),
            ttft: percentiles(ttft.remove(model).unwrap_or_default()),
        })
        .collect();
    let mut errors: Vec<(String, [f64; 2])> = errors.into_iter().collect();
    errors.sort_by(|a, b| {
        (b.1[0] + b.1[1])
            .total_cmp(&(a.1[0] + a.1[1]))
            .then_with(|| a.0.cmp(&b.0))
    });
    let attempts_per_call = per_call
        .into_iter()
        .map(|(n, c)| {
            let label = match n {
                0 => "0 (none sent)".to_string(),
                1 => "1 attempt".to_string(),
                5 => "5 or more".to_string(),
                n => format!("{n} attempts"),
            };
            (label, c)
        })
        .collect();
    let retry_labels = [
        "retries, same target",
        "fallback attempts",
        "hedges started",
        "calls a fallback answered",
        "calls with > 1 attempt",
    ];
    Figures {
        from_ms,
        to_ms,
        bucket_ms,
        totals,
        models,
        other_models,
        cost_by_model: top(cost_by_model),
        cost_by_route: top(cost_by_route),
        cost_by_tag: top(cost_by_tag),
        calls_over_time: over_time.into_iter().collect(),
        errors,
        attempts_per_call,
        retries: retry_labels
            .iter()
            .zip(retries)
            .map(|(l, n)| (l.to_string(), n))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: u64, call: bool, model: &str, outcome: &str, latency: f64) -> Row {
        Row {
            started_at_ms: t,
            call,
            model: model.into(),
            route: None,
            outcome: outcome.into(),
            error_kind: (outcome != "ok").then(|| "server".into()),
            latency_ms: latency,
            ttft_ms: Some(latency / 2.0),
            cost_usd: Some(0.5),
            input_tokens: 1,
            output_tokens: 2,
            attempt: 1,
            hedge: false,
            fallback: false,
            attempts: 1,
            tags: Map::new(),
        }
    }

    #[test]
    fn nearest_rank_percentiles_and_round_buckets() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(bucket_width(3_000), 100);
        assert_eq!(bucket_width(3_600_000), 120_000);
        assert_eq!(bucket_width(0), 100);
    }

    #[test]
    fn attempts_feed_latency_and_model_cost_calls_feed_outcomes() {
        let mut rows: Vec<Row> = (0..10)
            .map(|i| {
                // Mock options are not part of the model's name.
                let model = if i % 2 == 0 { "a/m" } else { "a/m;ttft_ms=5" };
                row(i * 10, false, model, "ok", f64::from(i as u32 + 1))
            })
            .collect();
        rows.push(row(5, false, "b/m", "error", 9.0));
        rows.push(row(0, true, "a/m", "ok", 1.0));
        rows.push(row(0, true, "route/x", "error", 1.0));
        let f = aggregate(&rows);
        assert_eq!((f.totals.calls, f.totals.ok, f.totals.errors), (2, 1, 1));
        assert_eq!(f.totals.attempts, 11);
        assert_eq!(f.models[0].model, "a/m");
        assert_eq!(f.models[0].latency.len(), 1, "one 100 ms bucket");
        assert_eq!(f.models[0].latency[0].1, [5.0, 10.0, 10.0]);
        assert_eq!(
            f.models.len(),
            1,
            "a model with no successful attempt has no latency chart"
        );
        assert_eq!(f.cost_by_model[0], ("a/m".to_string(), 5.0));
        assert_eq!(f.errors, vec![("server".to_string(), [1.0, 1.0])]);
    }
}
