//! The types of a call: what goes in (messages, request parameters) and what comes out
//! (response, stream events, errors). Plain data with serde shapes; no behaviour beyond
//! parsing, validation and derived views.
pub mod ai_sdk;
pub mod error;
pub mod message;
pub mod openai;
pub mod request;
pub mod response;
pub mod stream;
