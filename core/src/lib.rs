//! polyfuse-core: the one place where polyfuse's work is done.
//!
//! The bindings (Python, Node) import only the façade re-exported here: [`Client`], the request,
//! response, stream, usage and error types, and [`Config`].
mod balance;
pub mod breaker;
pub mod client;
pub mod config;
pub mod error;
mod http;
pub mod message;
pub mod providers;
mod redact;
pub mod request;
pub mod response;
mod retry;
mod route;
pub mod sse;
pub mod stream;
pub mod usage;

pub use breaker::TargetHealth;
pub use client::Client;
pub use config::Config;
pub use error::{Error, ErrorKind, Result};
pub use message::{Content, ContentPart, FunctionCall, Message, Role, ToolCall};
pub use request::{Params, Request};
pub use response::{Attempt, FinishReason, Outcome, Response};
pub use stream::{EventStream, StreamEvent};
pub use usage::{Usage, UsageCallback, UsageEvent};
