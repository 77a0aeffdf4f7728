//! polyfuse's Node binding (napi-rs v3). It converts values, Promises, async iterators and
//! callbacks between JS and `polyfuse-core`, and holds no logic of its own.
//!
//! Modules mirror the core: [`client`] (the `Client` class), [`stream`] (the async-iterable
//! `ChatStream`), [`usage`] (the `onUsage` callback), [`error`] (`PolyfuseError` and a subclass
//! per error kind), [`options`] (the shape of the options objects: unknown keys and the usual
//! mistakes named), [`convert`] (JS objects ⇄ core types), [`json`] (caller data → JSON, depth-
//! bounded and cycle-checked) and [`ledger`] (the usage ledger's query and report). Futures run on napi's tokio
//! runtime (feature `tokio_rt`), which this addon owns; the core assumes no runtime of its own.
#![deny(clippy::all)]
// `polyfuse_core::Error` is large (168 bytes); boxing it is the core's call (reported).
#![allow(clippy::result_large_err)]

mod ai_sdk;
mod calls;
mod client;
mod convert;
mod error;
mod fusion;
mod json;
mod ledger;
mod openai;
mod options;
mod signal;
mod stream;
mod summary;
mod usage;

pub use client::Client;
pub use convert::{Attempt, Response, StreamEvent, TargetHealth, ToolCall, Usage, UsageEvent};
pub use fusion::{FusionEvent, FusionResult};
pub use ledger::{query_ledger, write_report, LedgerStats, ReportSummary};
pub use openai::{Chat, Completions};
pub use stream::ChatStream;
pub use summary::{DeliveryStats, Percentiles, UsageSummary, UsageTotals};

use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Runs once per module load, after the classes are registered: defines `PolyfuseError` and its
/// subclass per error kind (JS classes, so that errors are real `Error`s with a stack), makes
/// `ChatStream` async-iterable, and installs the exit hooks that write the ledgers' queued events
/// and deliver queued usage events.
#[napi(module_exports)]
pub fn init(exports: Object, env: Env) -> Result<()> {
    error::install(&env, exports)?;
    ledger::install(&env, exports)?;
    usage::install(&env, exports)
}
