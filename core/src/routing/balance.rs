//! Load balancing: per-target live statistics (requests in flight, EWMA latency, recent latencies
//! for p95) and the ordering of a route's targets for one call under its strategy. Latencies are
//! kept apart by what they measure: time to first token (streams) and time to the whole answer
//! (`complete`), so a stream's hedge delay is never derived from whole-answer times.
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Strategy;

const EWMA_ALPHA: f64 = 0.3;
const WINDOW: usize = 64;

/// What a latency sample measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Measure {
    /// Time to the first token of a stream.
    FirstToken,
    /// Time to the whole answer of a `complete` call.
    Total,
}

#[derive(Default)]
struct Window {
    ewma_ms: Option<f64>,
    recent_ms: VecDeque<f64>,
}

#[derive(Default)]
struct Stat {
    in_flight: u64,
    windows: [Window; 2],
}

impl Stat {
    fn window(&self, m: Measure) -> &Window {
        &self.windows[m as usize]
    }
}

/// Statistics of every target this client has called.
#[derive(Default)]
pub(crate) struct Balancer {
    stats: Mutex<HashMap<String, Stat>>,
}

/// Marks one request in flight to a target until dropped.
pub(crate) struct InFlight {
    balancer: Arc<Balancer>,
    target: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut stats = self
            .balancer
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(s) = stats.get_mut(&self.target) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }
}

/// What the ordering needs to know of one target.
pub(crate) struct Candidate<'a> {
    pub model: &'a str,
    pub weight: f64,
    pub cost_per_mtok: Option<f64>,
}

impl Balancer {
    pub(crate) fn start(self: &Arc<Self>, target: &str) -> InFlight {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.entry(target.to_string()).or_default().in_flight += 1;
        InFlight {
            balancer: self.clone(),
            target: target.to_string(),
        }
    }

    /// Records a successful attempt's latency.
    pub(crate) fn observe(&self, target: &str, measure: Measure, latency: Duration) {
        let ms = latency.as_secs_f64() * 1000.0;
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let s = &mut stats.entry(target.to_string()).or_default().windows[measure as usize];
        s.ewma_ms = Some(match s.ewma_ms {
            Some(prev) => prev + EWMA_ALPHA * (ms - prev),
            None => ms,
        });
        if s.recent_ms.len() == WINDOW {
            s.recent_ms.pop_front();
        }
        s.recent_ms.push_back(ms);
    }

    /// The target's recent 95th-percentile latency, once it has at least 5 samples.
    pub(crate) fn p95(&self, target: &str, measure: Measure) -> Option<Duration> {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let s = stats.get(target)?.window(measure);
        if s.recent_ms.len() < 5 {
            return None;
        }
        let mut v: Vec<f64> = s.recent_ms.iter().copied().collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let idx = ((v.len() as f64) * 0.95).ceil() as usize - 1;
        Some(Duration::from_secs_f64(v[idx.min(v.len() - 1)] / 1000.0))
    }

    /// The order in which one call tries the candidates (indexes into `candidates`).
    pub(crate) fn order(
        &self,
        strategy: Strategy,
        measure: Measure,
        candidates: &[Candidate<'_>],
    ) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..candidates.len()).collect();
        match strategy {
            Strategy::Ordered => {}
            Strategy::Weighted => {
                // Weighted random order without replacement.
                let mut rest = idx;
                idx = Vec::with_capacity(rest.len());
                while !rest.is_empty() {
                    let total: f64 = rest.iter().map(|&i| candidates[i].weight).sum();
                    let pick = if total <= 0.0 {
                        0
                    } else {
                        let mut x = fastrand::f64() * total;
                        let mut chosen = rest.len() - 1;
                        for (pos, &i) in rest.iter().enumerate() {
                            x -= candidates[i].weight;
                            if x < 0.0 {
                                chosen = pos;
                                break;
                            }
                        }
                        chosen
                    };
                    idx.push(rest.remove(pick));
                }
            }
            Strategy::LeastInFlight => {
                let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                let load = |i: usize| {
                    stats
                        .get(candidates[i].model)
                        .map(|s| s.in_flight)
                        .unwrap_or(0)
                };
                idx.sort_by_key(|&i| load(i));
            }
            Strategy::LowestLatency => {
                let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                // Untried targets first (so each gets measured), then by EWMA.
                let lat = |i: usize| {
                    stats
                        .get(candidates[i].model)
                        .and_then(|s| s.window(measure).ewma_ms)
                        .unwrap_or(-1.0)
                };
                idx.sort_by(|&a, &b| lat(a).total_cmp(&lat(b)));
            }
            Strategy::LowestCost => {
                let cost = |i: usize| candidates[i].cost_per_mtok.unwrap_or(f64::INFINITY);
                idx.sort_by(|&a, &b| cost(a).total_cmp(&cost(b)));
            }
        }
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands<'a>(models: &'a [&'a str], weights: &[f64]) -> Vec<Candidate<'a>> {
        models
            .iter()
            .zip(weights)
            .map(|(m, w)| Candidate {
                model: m,
                weight: *w,
                cost_per_mtok: None,
            })
            .collect()
    }

    #[test]
    fn weighted_follows_weights() {
        let b = Balancer::default();
        let c = cands(&["a", "b"], &[3.0, 1.0]);
        let firsts = (0..4000)
            .filter(|_| b.order(Strategy::Weighted, Measure::Total, &c)[0] == 0)
            .count();
        assert!((2700..3300).contains(&firsts), "{firsts}");
        let zero = cands(&["a", "b"], &[0.0, 1.0]);
        assert!((0..200).all(|_| b.order(Strategy::Weighted, Measure::Total, &zero)[0] == 1));
    }

    #[test]
    fn least_in_flight_and_lowest_latency() {
        let b = Arc::new(Balancer::default());
        let c = cands(&["a", "b"], &[1.0, 1.0]);
        let _busy = b.start("a");
        assert_eq!(
            b.order(Strategy::LeastInFlight, Measure::Total, &c),
            vec![1, 0]
        );
        drop(_busy);
        b.observe("a", Measure::Total, Duration::from_millis(100));
        assert_eq!(
            b.order(Strategy::LowestLatency, Measure::Total, &c),
            vec![1, 0],
            "untried first"
        );
        b.observe("b", Measure::Total, Duration::from_millis(300));
        assert_eq!(
            b.order(Strategy::LowestLatency, Measure::Total, &c),
            vec![0, 1]
        );
    }

    #[test]
    fn p95_needs_samples() {
        let b = Balancer::default();
        for ms in [10, 20, 30, 40] {
            b.observe("a", Measure::Total, Duration::from_millis(ms));
        }
        assert_eq!(b.p95("a", Measure::Total), None);
        assert_eq!(b.p95("a", Measure::FirstToken), None);
        for ms in 50..=100 {
            b.observe("a", Measure::Total, Duration::from_millis(ms));
        }
        let p = b.p95("a", Measure::Total).unwrap().as_millis();
        assert_eq!(b.p95("a", Measure::FirstToken), None, "kept apart");
        assert!((95..=100).contains(&p), "{p}");
    }
}
