//! polyfuse-core: the one place where polyfuse's work is done.
//!
//! The bindings (Python, Node) import only the façade re-exported here: [`Client`], the request,
//! response, stream, usage and error types, and [`Config`].
//!
//! Layout, one concern per module:
//! - [`types`]: what a call takes and returns (messages, request, response, stream events, errors);
//! - [`config`]: the configuration document, `${ENV}` expansion, the built-in provider table, and
//!   resolving the document into providers;
//! - [`call`]: the [`Client`] and the engine that carries out one logical call (attempts, hedging,
//!   failover, the call record);
//! - `routing`: the targets of a call and the walk over them (plan, run, retry, breaker, balance);
//! - [`providers`]: the provider abstraction, the shared HTTP and SSE plumbing, one file per wire format;
//! - [`usage`]: normalized token counts, usage events, their delivery to callbacks, the durable
//!   ledger ([`query_ledger`]) and the HTML report drawn from it ([`write_report`]);
//! - [`fusion`]: one prompt through a pool of models, then one answer (best-of, merge, debate,
//!   vote), as `Client::fuse` and as the model string `fusion/<name>`.
pub mod call;
pub mod config;
pub mod fusion;
#[doc(hidden)]
pub mod fuzzing;
pub mod providers;
mod redact;
mod routing;
pub mod types;
pub mod usage;

pub use call::{CallContext, Client};
pub use config::Config;
pub use fusion::{FuseRequest, FusionEvent, FusionResult, FusionSpec, FusionStream};
pub use routing::breaker::TargetHealth;
pub use types::error::{Error, ErrorKind, Result};
pub use types::message::{Content, ContentPart, FunctionCall, Message, Role, ToolCall};
pub use types::request::{Params, Request};
pub use types::response::{Attempt, FinishReason, Outcome, Response};
pub use types::stream::{started, EventStream, StreamEvent, ValueStream};
/// The shapes of other SDKs that polyfuse reads and produces: OpenAI Chat Completions (the
/// drop-ins) and the Vercel AI SDK's language-model specification (its provider).
pub use types::{ai_sdk, openai};
pub use usage::ledger::{query as query_ledger, LedgerFilter, LedgerLocation, LedgerStats};
pub use usage::report::{write_report, ReportSummary};
pub use usage::{
    DeliveryStats, Level, Usage, UsageCallback, UsageEvent, UsageSource, UsageSummary, UsageTotals,
};
