//! Routing: the targets of one call and the walk over them. `plan` holds a call's targets; `run` the walk (retries,
//! backoff, fallback, the total budget); `retry` the decision after a failed attempt; `breaker`
//! the per-target circuit breakers; `balance` the strategies that order a route's targets.
pub(crate) mod balance;
pub mod breaker;
pub(crate) mod plan;
pub(crate) mod retry;
pub(crate) mod run;
