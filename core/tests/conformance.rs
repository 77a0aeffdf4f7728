//! Conformance against REAL recorded provider traffic (`tests/fixtures/providers`, see each
//! folder's SOURCES.md): every payload is replayed over real HTTP by a loopback server inside
//! the test (recorded status, recorded headers from `*_meta.json`, exact body bytes; SSE sent
//! chunked in uneven pieces) to a polyfuse `Client`, and the normalized result is compared with
//! expected values written out below (read off the fixtures, not computed by the code under test):
//! text, reasoning, tool calls and arguments, finish reason, every usage number, reported cost,
//! error kind, status, retry delay and request id.
//!
//! Also: every streamed fixture parsed from one-byte reads gives the same result
//! (`bytewise_streams_match`), every recorded `*.request.json` is reproduced by the provider's
//! body builder from the equivalent logical `Request` (`recorded_requests_are_reproduced`), and
//! no file in the fixture folder goes unaccounted for (`every_fixture_file_is_covered`).
//!
//! The folder is `$POLYFUSE_FIXTURES`, else the repository's own copy `tests/fixtures/providers`; a missing
//! folder FAILS these tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use polyfuse_core::config::{ProviderConfig, Secret, WireFormat};
use polyfuse_core::providers::anthropic::AnthropicProvider;
use polyfuse_core::providers::gemini::GeminiProvider;
use polyfuse_core::providers::mistral::MistralProvider;
use polyfuse_core::providers::openai::OpenAiProvider;
use polyfuse_core::providers::{Completion, Provider, ProviderEvent, ProviderStream};
use polyfuse_core::usage::UsageSource;
use polyfuse_core::{Client, Config, Error, ErrorKind, Request, StreamEvent, ToolCall, Usage};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "test-key-7f3a9c21";

#[derive(Clone, Copy, Debug, PartialEq)]
enum F {
    OpenAi,
    Anthropic,
    Gemini,
    Mistral,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum M {
    Complete,
    Stream,
}

/// Expected text: exact, or (long answers) its start, end and length in characters.
#[derive(Debug)]
enum T {
    Exact(&'static str),
    Long {
        head: &'static str,
        tail: &'static str,
        chars: usize,
    },
}

impl T {
    fn check(&self, got: &str, what: &str, file: &str) {
        match self {
            T::Exact(s) => assert_eq!(got, *s, "{file}: {what}"),
            T::Long { head, tail, chars } => {
                assert!(
                    got.starts_with(head),
                    "{file}: {what} starts {:?}",
                    got.chars().take(60).collect::<String>()
                );
                assert!(
                    got.ends_with(tail),
                    "{file}: {what} ends {:?}",
                    got.chars().rev().take(40).collect::<String>()
                );
                assert_eq!(got.chars().count(), *chars, "{file}: {what} length");
            }
        }
    }
}

#[derive(Debug)]
enum E {
    Ok {
        text: T,
        reasoning: Option<T>,
        /// (name, arguments, id when the provider assigns one)
        tools: &'static [(&'static str, &'static str, Option<&'static str>)],
        finish: &'static str,
        /// [input incl. cached, output incl. reasoning, cached input, cache write, reasoning]
        usage: [u64; 5],
        cost: Option<f64>,
    },
    Err {
        kind: ErrorKind,
        /// HTTP status of the error response (None: the error came inside a 200 stream).
        status: Option<u16>,
        retry_ms: Option<u64>,
        request_id: Option<&'static str>,
        /// For streams: the text streamed before the error.
        text_before: Option<&'static str>,
    },
}

#[derive(Debug)]
struct Case {
    file: &'static str,
    format: F,
    /// Provider name in the config (`xai` switches on its usage quirk).
    provider: &'static str,
    mode: M,
    status: u16,
    meta: Option<&'static str>,
    expect: E,
}

/// Files in the folder that are not payloads, and why.
const NON_PAYLOADS: &[(&str, &str)] = &[
    ("openai/spec_streaming.response.spec_excerpt.txt", "the spec's streaming example is an abbreviated excerpt (contains `....`, no `data:` prefixes): illustrative only, per SOURCES.md"),
    ("FILES.txt", "index of the folder"),
    ("README.md", "documentation"),
    ("LICENSES.md", "licences of the upstream projects the recordings come from"),
];

const CASES: &[Case] = &[
    Case { file: "anthropic/derived/vercel_anthropic-clear-thinking.1.derived.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("925 ÷ 5 = 185"), reasoning: Some(T::Exact("The previous result was 925. Now I need to divide that by 5.\n\n925 ÷ 5 = 185")), tools: &[], finish: "stop", usage: [69, 53, 0, 0, 0], cost: None } },
    Case { file: "anthropic/derived/vercel_anthropic-json-tool.1.derived.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("json", "{\"elements\": [{\"location\": \"San Francisco\", \"temperature\": 58, \"condition\": \"sunny\"}]}", Some("toolu_01KFbKqPYSuAKujiL6mTfzYA"))], finish: "tool_calls", usage: [849, 47, 0, 0, 0], cost: None } },
    Case { file: "anthropic/derived/vercel_anthropic-refusal.derived.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[], finish: "content_filter", usage: [18, 5, 0, 0, 0], cost: None } },
    Case { file: "anthropic/derived/vercel_anthropic-text.derived.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help you with?"), reasoning: None, tools: &[], finish: "stop", usage: [12, 30, 0, 0, 0], cost: None } },
    Case { file: "anthropic/derived/vercel_anthropic-tool-no-args.derived.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("I'll update the issue list for you."), reasoning: None, tools: &[("updateIssueList", "{}", Some("toolu_01QE1WLsSVp5hy5Q3GmGTmjP"))], finish: "tool_calls", usage: [565, 48, 0, 0, 0], cost: None } },
    Case { file: "anthropic/derived/vercel_message-delta-input-tokens.derived.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("pong"), reasoning: None, tools: &[], finish: "stop", usage: [61, 2, 0, 0, 0], cost: None } },
    Case { file: "anthropic/error_401_authentication_error.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 401, meta: None,
        expect: E::Err { kind: ErrorKind::Authentication, status: Some(401), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "anthropic/error_429_rate_limit_error.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "anthropic/error_429_response_headers_sdk_ts_357.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: Some("req_01T5fCVnYdf9X5ZW6KayReBK"), text_before: None } },
    Case { file: "anthropic/error_529_overloaded.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 529, meta: None,
        expect: E::Err { kind: ErrorKind::Overloaded, status: Some(529), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "anthropic/error_529_overloaded_with_details_null.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 529, meta: None,
        expect: E::Err { kind: ErrorKind::Overloaded, status: Some(529), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "anthropic/pai_error_400_invalid_request.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 400, meta: Some("anthropic/pai_error_400_invalid_request.response_meta.json"),
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: Some(400), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "anthropic/pai_error_404_not_found.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 404, meta: Some("anthropic/pai_error_404_not_found.response_meta.json"),
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: Some(404), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "anthropic/pai_nonstream_after_tool_result.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: Some("anthropic/pai_nonstream_after_tool_result.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "Based on the retrieved information, we can see t", tail: "t among the four family members.", chars: 340 }, reasoning: None, tools: &[], finish: "stop", usage: [771, 77, 0, 0, 0], cost: None } },
    Case { file: "anthropic/pai_nonstream_cache_read.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: Some("anthropic/pai_nonstream_cache_read.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "Python is a beginner-friendly, versatile program", tail: "ation, and scientific computing.", chars: 164 }, reasoning: None, tools: &[], finish: "stop", usage: [1532, 33, 1111, 418, 0], cost: None } },
    Case { file: "anthropic/pai_nonstream_parallel_tool_use.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: Some("anthropic/pai_nonstream_parallel_tool_use.response_meta.json"),
        expect: E::Ok { text: T::Exact("I'll help you find out who is the youngest by retrieving information about each family member. I'll retrieve their entity information to compare their ages."), reasoning: None, tools: &[("retrieve_entity_info", "{\"name\": \"Alice\"}", Some("toolu_0167cfEnoQaPviGdVXA95zcu")), ("retrieve_entity_info", "{\"name\": \"Bob\"}", Some("toolu_01EEe2V5HD1Ac4rKiUR4HD2T")), ("retrieve_entity_info", "{\"name\": \"Charlie\"}", Some("toolu_01XFyAjstT3966qvRynZyVPo")), ("retrieve_entity_info", "{\"name\": \"Daisy\"}", Some("toolu_013mnQZbgtK2oe3Mo3XKJsx3"))], finish: "tool_calls", usage: [423, 202, 0, 0, 0], cost: None } },
    Case { file: "anthropic/pai_nonstream_text.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: Some("anthropic/pai_nonstream_text.response_meta.json"),
        expect: E::Ok { text: T::Exact("Hi there! How are you doing today? Is there anything I can help you with?"), reasoning: None, tools: &[], finish: "stop", usage: [8, 21, 0, 0, 0], cost: None } },
    Case { file: "anthropic/pai_stream_thinking.response.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: Some("anthropic/pai_stream_thinking.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "Here are the basic steps for safely crossing the", tail: "ver speed when crossing streets.", chars: 1021 }, reasoning: Some(T::Long { head: "This is a straightforward question about pedestr", tail: "at could help prevent accidents.", chars: 202 }), tools: &[], finish: "stop", usage: [43, 282, 0, 0, 0], cost: None } },
    Case { file: "anthropic/sdkpy_stream_basic_response.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Hello there!"), reasoning: None, tools: &[], finish: "stop", usage: [11, 6, 0, 0, 0], cost: None } },
    Case { file: "anthropic/sdkpy_stream_incomplete_partial_json_response.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called taxes.txt. Let me do that for you now."), reasoning: None, tools: &[("make_file", "{\"filename\": \"taxes.txt\", \"lines_of_text\": [\n\"# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s\",\n\"\",\n\"## INTRODUCTION\",\n\"\",\n\"Filing taxes", Some("toolu_01EKqbqmZrGRXy18eN7m9kvY"))], finish: "length", usage: [450, 124, 0, 0, 0], cost: None } },
    Case { file: "anthropic/sdkpy_stream_refusal_response.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[], finish: "content_filter", usage: [20, 0, 0, 0, 0], cost: None } },
    Case { file: "anthropic/sdkpy_stream_tool_use_response.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("I'll check the current weather in Paris for you."), reasoning: None, tools: &[("get_weather", "{\"location\": \"Paris\"}", Some("toolu_01NRLabsLyVHZPKxbKvkfSMn"))], finish: "tool_calls", usage: [377, 65, 0, 0, 0], cost: None } },
    Case { file: "anthropic/stream_error_first_event_overloaded.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Err { kind: ErrorKind::Overloaded, status: None, retry_ms: None, request_id: None, text_before: Some("") } },
    Case { file: "anthropic/stream_error_midstream_overloaded.sse", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Err { kind: ErrorKind::Overloaded, status: None, retry_ms: None, request_id: None, text_before: Some("Hello") } },
    Case { file: "anthropic/tidyllm_nonstream_text_with_ratelimit_headers.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: Some("anthropic/tidyllm_nonstream_text_with_ratelimit_headers.response_meta.json"),
        expect: E::Ok { text: T::Exact("Hello! How can I assist you today? Is there anything specific you'd like to know or discuss?"), reasoning: None, tools: &[], finish: "stop", usage: [16, 24, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-claude-opus-5-reasoning-high.1.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Long { head: "## Step 1: Set up the problem\n\nWe want all value", tail: "pendently confirming the answer.", chars: 2644 }, reasoning: Some(T::Long { head: "I need to find all roots of this cubic polynomia", tail: " polynomial has exactly 3 roots.", chars: 352 }), tools: &[], finish: "stop", usage: [51, 1699, 0, 0, 139], cost: None } },
    Case { file: "anthropic/vercel_anthropic-clear-thinking.1.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("925 ÷ 5 = 185"), reasoning: Some(T::Exact("925 divided by 5 = 185")), tools: &[], finish: "stop", usage: [69, 33, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-clear-thinking.1.stream.jsonl", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("925 ÷ 5 = 185"), reasoning: Some(T::Exact("The previous result was 925. Now I need to divide that by 5.\n\n925 ÷ 5 = 185")), tools: &[], finish: "stop", usage: [69, 53, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-json-tool.1.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("json", "{\"elements\": [{\"location\": \"San Francisco\", \"temperature\": -5, \"condition\": \"snowy\"}, {\"location\": \"London\", \"temperature\": 0, \"condition\": \"snowy\"}, {\"location\": \"Paris\", \"temperature\": 23, \"condition\": \"cloudy\"}, {\"location\": \"Berlin\", \"temperature\": -9, \"condition\": \"snowy\"}]}", Some("toolu_01Q9ExVZnzZj7E2QQYHYtNUa"))], finish: "tool_calls", usage: [1151, 87, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-json-tool.1.stream.jsonl", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("json", "{\"elements\": [{\"location\": \"San Francisco\", \"temperature\": 58, \"condition\": \"sunny\"}]}", Some("toolu_01KFbKqPYSuAKujiL6mTfzYA"))], finish: "tool_calls", usage: [849, 47, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-refusal.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[], finish: "content_filter", usage: [18, 5, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-refusal.stream.jsonl", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[], finish: "content_filter", usage: [18, 5, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-text.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?"), reasoning: None, tools: &[], finish: "stop", usage: [12, 29, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-text.stream.jsonl", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help you with?"), reasoning: None, tools: &[], finish: "stop", usage: [12, 30, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-tool-no-args.response.json", format: F::Anthropic, provider: "anthropic", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Long { head: "<thinking>\nThe updateIssueList tool was provided", tail: "l update the current issue list:", chars: 255 }, reasoning: None, tools: &[("updateIssueList", "{}", Some("toolu_01LRmxn9vGM1d2DZSDBowdZ1"))], finish: "tool_calls", usage: [602, 93, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_anthropic-tool-no-args.stream.jsonl", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("I'll update the issue list for you."), reasoning: None, tools: &[("updateIssueList", "{}", Some("toolu_01QE1WLsSVp5hy5Q3GmGTmjP"))], finish: "tool_calls", usage: [565, 48, 0, 0, 0], cost: None } },
    Case { file: "anthropic/vercel_message-delta-input-tokens.stream.jsonl", format: F::Anthropic, provider: "anthropic", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("pong"), reasoning: None, tools: &[], finish: "stop", usage: [61, 2, 0, 0, 0], cost: None } },
    Case { file: "gemini/derived/pai_stream_function_call.crlf.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("get_capital", "{\"country\": \"France\"}", None)], finish: "tool_calls", usage: [52, 5, 0, 0, 0], cost: None } },
    Case { file: "gemini/derived/pai_stream_text.crlf.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("The capital of France is Paris.\n"), reasoning: None, tools: &[], finish: "stop", usage: [13, 8, 0, 0, 0], cost: None } },
    Case { file: "gemini/derived/vercel_google-reasoning.derived_crlf.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("There are **3** \"r\"s in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y."), reasoning: None, tools: &[], finish: "stop", usage: [9, 285, 0, 0, 256], cost: None } },
    Case { file: "gemini/derived/vercel_google-text.derived_crlf.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y"), reasoning: None, tools: &[], finish: "stop", usage: [9, 208, 0, 0, 185], cost: None } },
    Case { file: "gemini/derived/vercel_google-tool-call-gemini3.derived_crlf.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("weather", "{\"location\": \"San Francisco\"}", None)], finish: "tool_calls", usage: [29, 819, 0, 0, 804], cost: None } },
    Case { file: "gemini/derived/vercel_google-tool-call.derived_crlf.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("weather", "{\"location\": \"San Francisco\"}", None)], finish: "tool_calls", usage: [29, 60, 0, 0, 45], cost: None } },
    Case { file: "gemini/derived/vercel_vertex_stream_partial_args.derived_crlf.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("getWeather", "{\"location\": \"Boston\"}", None), ("getWeather", "{\"location\": \"San Francisco\"}", None)], finish: "tool_calls", usage: [26, 155, 0, 0, 132], cost: None } },
    Case { file: "gemini/error_400_api_key_invalid.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 400, meta: None,
        expect: E::Err { kind: ErrorKind::Authentication, status: Some(400), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "gemini/error_400_invalid_argument.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 400, meta: None,
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: Some(400), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "gemini/error_429_resource_exhausted_quota_details.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "gemini/error_429_vertex_array_wrapped.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "gemini/error_503_unavailable_overloaded.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 503, meta: None,
        expect: E::Err { kind: ErrorKind::Overloaded, status: Some(503), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "gemini/pai_generate_cached_content_tokens.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: Some("gemini/pai_generate_cached_content_tokens.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "This video demonstrates an AI assistant within a", tail: "o resolve the identified issues.", chars: 400 }, reasoning: None, tools: &[], finish: "stop", usage: [17713, 889, 17379, 0, 821], cost: None } },
    Case { file: "gemini/pai_generate_finish_max_tokens.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: Some("gemini/pai_generate_finish_max_tokens.response_meta.json"),
        expect: E::Ok { text: T::Exact("The capital of France is"), reasoning: None, tools: &[], finish: "length", usage: [15, 5, 0, 0, 0], cost: None } },
    Case { file: "gemini/pai_generate_finish_safety.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: Some("gemini/pai_generate_finish_safety.response_meta.json"),
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[], finish: "content_filter", usage: [14, 0, 0, 0, 0], cost: None } },
    Case { file: "gemini/pai_generate_function_call.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: Some("gemini/pai_generate_function_call.response_meta.json"),
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("final_result", "{\"city\": \"Mexico City\", \"country\": \"Mexico\"}", None)], finish: "tool_calls", usage: [47, 8, 0, 0, 0], cost: None } },
    Case { file: "gemini/pai_generate_function_call_thought_signature.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: Some("gemini/pai_generate_function_call_thought_signature.response_meta.json"),
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("get_capital", "{\"country\": \"France\"}", None)], finish: "tool_calls", usage: [57, 139, 0, 0, 124], cost: None } },
    Case { file: "gemini/pai_generate_max_tokens_no_parts.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: Some("gemini/pai_generate_max_tokens_no_parts.response_meta.json"),
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[], finish: "length", usage: [15, 2, 0, 0, 2], cost: None } },
    Case { file: "gemini/pai_generate_text.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: Some("gemini/pai_generate_text.response_meta.json"),
        expect: E::Ok { text: T::Exact("Hello! How can I help you today?"), reasoning: None, tools: &[], finish: "stop", usage: [9, 43, 0, 0, 34], cost: None } },
    Case { file: "gemini/pai_stream_after_function_response.response.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: Some("gemini/pai_stream_after_function_response.response_meta.json"),
        expect: E::Ok { text: T::Exact("The temperature in Paris is 30°C.\n"), reasoning: None, tools: &[], finish: "stop", usage: [79, 12, 0, 0, 0], cost: None } },
    Case { file: "gemini/pai_stream_function_call.response.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: Some("gemini/pai_stream_function_call.response_meta.json"),
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("get_capital", "{\"country\": \"France\"}", None)], finish: "tool_calls", usage: [52, 5, 0, 0, 0], cost: None } },
    Case { file: "gemini/pai_stream_function_call_gemini3.response.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: Some("gemini/pai_stream_function_call_gemini3.response_meta.json"),
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("get_country", "{}", None)], finish: "tool_calls", usage: [29, 212, 0, 0, 202], cost: None } },
    Case { file: "gemini/pai_stream_text.response.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: Some("gemini/pai_stream_text.response_meta.json"),
        expect: E::Ok { text: T::Exact("The capital of France is Paris.\n"), reasoning: None, tools: &[], finish: "stop", usage: [13, 8, 0, 0, 0], cost: None } },
    Case { file: "gemini/pai_stream_thinking.response.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: Some("gemini/pai_stream_thinking.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "This is a great question! Safely crossing the st", tail: "sume a driver might not see you.", chars: 1938 }, reasoning: Some(T::Long { head: "**Clarifying User Goals**\n\nI'm currently focused", tail: "c circumstances or locations.\n\n\n", chars: 1575 }), tools: &[], finish: "stop", usage: [34, 1256, 0, 0, 787], cost: None } },
    Case { file: "gemini/pai_stream_usage_every_chunk.response.sse", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: Some("gemini/pai_stream_usage_every_chunk.response_meta.json"),
        expect: E::Ok { text: T::Exact("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n21\n22\n23\n24\n25\n26\n27\n28\n29\n30"), reasoning: None, tools: &[], finish: "stop", usage: [18, 115, 0, 0, 35], cost: None } },
    Case { file: "gemini/vercel_error_429_resource_exhausted_retryinfo.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: Some(34400), request_id: None, text_before: None } },
    Case { file: "gemini/vercel_google-reasoning.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("There are **3** \"r\"s in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y."), reasoning: None, tools: &[], finish: "stop", usage: [9, 311, 0, 0, 282], cost: None } },
    Case { file: "gemini/vercel_google-reasoning.stream.jsonl", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("There are **3** \"r\"s in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y."), reasoning: None, tools: &[], finish: "stop", usage: [9, 285, 0, 0, 256], cost: None } },
    Case { file: "gemini/vercel_google-text.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y."), reasoning: None, tools: &[], finish: "stop", usage: [9, 272, 0, 0, 244], cost: None } },
    Case { file: "gemini/vercel_google-text.stream.jsonl", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y"), reasoning: None, tools: &[], finish: "stop", usage: [9, 208, 0, 0, 185], cost: None } },
    Case { file: "gemini/vercel_google-tool-call-gemini3.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("weather", "{\"location\": \"San Francisco\"}", None)], finish: "tool_calls", usage: [29, 1816, 0, 0, 1801], cost: None } },
    Case { file: "gemini/vercel_google-tool-call-gemini3.stream.jsonl", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("weather", "{\"location\": \"San Francisco\"}", None)], finish: "tool_calls", usage: [29, 819, 0, 0, 804], cost: None } },
    Case { file: "gemini/vercel_google-tool-call.response.json", format: F::Gemini, provider: "google", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("weather", "{\"location\": \"San Francisco\"}", None)], finish: "tool_calls", usage: [29, 908, 0, 0, 893], cost: None } },
    Case { file: "gemini/vercel_google-tool-call.stream.jsonl", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("weather", "{\"location\": \"San Francisco\"}", None)], finish: "tool_calls", usage: [29, 60, 0, 0, 45], cost: None } },
    Case { file: "gemini/vercel_vertex_stream_partial_args.stream.jsonl", format: F::Gemini, provider: "google", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("getWeather", "{\"location\": \"Boston\"}", None), ("getWeather", "{\"location\": \"San Francisco\"}", None)], finish: "tool_calls", usage: [26, 155, 0, 0, 132], cost: None } },
    Case { file: "mistral/derived/vercel_mistral-incremental-tool-call-glm.derived.sse", format: F::Mistral, provider: "mistral", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("webSearchTool", "{\"query\": \"current Berlin weather\"}", Some("chatcmpl-tool-9f149c74c42f265b"))], finish: "tool_calls", usage: [171, 14, 128, 0, 0], cost: None } },
    Case { file: "mistral/derived/vercel_mistral-reasoning.derived.sse", format: F::Mistral, provider: "mistral", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("2 + 2 = 4"), reasoning: Some(T::Exact("The user is asking for 2+2. This is basic arithmetic. 2+2=4.")), tools: &[], finish: "stop", usage: [10, 46, 0, 0, 0], cost: None } },
    Case { file: "mistral/derived/vercel_mistral-text.derived.sse", format: F::Mistral, provider: "mistral", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Hello, world! This is a test response."), reasoning: None, tools: &[], finish: "stop", usage: [13, 8, 0, 0, 0], cost: None } },
    Case { file: "mistral/derived/vercel_mistral-tool-call.derived.sse", format: F::Mistral, provider: "mistral", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("weather", "{\"location\": \"San Francisco\"}", Some("gSIMJiOkT"))], finish: "tool_calls", usage: [124, 22, 0, 0, 0], cost: None } },
    Case { file: "mistral/error_400_invalid_request.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 400, meta: None,
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: Some(400), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "mistral/error_401_unauthorized.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 401, meta: None,
        expect: E::Err { kind: ErrorKind::Authentication, status: Some(401), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "mistral/error_404_not_found.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 404, meta: None,
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: Some(404), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "mistral/error_429_legacy_requests_rate_limit.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "mistral/error_429_rate_limited.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "mistral/error_429_rate_limited_with_raw_status.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "mistral/pai_nonstream_cached_tokens.response.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 200, meta: Some("mistral/pai_nonstream_cached_tokens.response_meta.json"),
        expect: E::Ok { text: T::Exact("cache probe two."), reasoning: None, tools: &[], finish: "stop", usage: [268, 5, 224, 0, 0], cost: None } },
    Case { file: "mistral/pai_nonstream_text.response.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 200, meta: Some("mistral/pai_nonstream_text.response_meta.json"),
        expect: E::Ok { text: T::Exact("Hello! 😊 How can I assist you today? Whether you have a question, need help with something, or just want to chat, I'm here for you!"), reasoning: None, tools: &[], finish: "stop", usage: [4, 36, 0, 0, 0], cost: None } },
    Case { file: "mistral/pai_nonstream_thinking.response.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 200, meta: Some("mistral/pai_nonstream_thinking.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "Crossing a river is quite different from crossin", tail: "e river's conditions. Stay safe!", chars: 1282 }, reasoning: Some(T::Long { head: "**Analogizing crossing a river**\n\nThe user is as", tail: "'re unsure about the conditions.", chars: 2379 }), tools: &[], finish: "stop", usage: [664, 747, 0, 0, 0], cost: None } },
    Case { file: "mistral/pai_nonstream_tool_call.response.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 200, meta: Some("mistral/pai_nonstream_tool_call.response_meta.json"),
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("get_image", "{}", Some("FI5qQGzDE"))], finish: "tool_calls", usage: [65, 16, 0, 0, 0], cost: None } },
    Case { file: "mistral/pai_stream_thinking.response.sse", format: F::Mistral, provider: "mistral", mode: M::Stream, status: 200, meta: Some("mistral/pai_stream_thinking.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "To cross the street safely, follow these steps:\n", tail: " you can ensure a safe crossing.", chars: 607 }, reasoning: Some(T::Long { head: "Okay, the user is asking how to cross the street", tail: "to a clear and concise response.", chars: 421 }), tools: &[], finish: "stop", usage: [10, 232, 0, 0, 0], cost: None } },
    Case { file: "mistral/tidyllm_nonstream_text_with_ratelimit_headers.response.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 200, meta: Some("mistral/tidyllm_nonstream_text_with_ratelimit_headers.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "Hello, world! 🌍✨ How can I brighten your day tod", tail: "t with that classic greeting! 🚀)", chars: 204 }, reasoning: None, tools: &[], finish: "stop", usage: [7, 61, 0, 0, 0], cost: None } },
    Case { file: "mistral/vercel_mistral-incremental-tool-call-glm.stream.jsonl", format: F::Mistral, provider: "mistral", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("webSearchTool", "{\"query\": \"current Berlin weather\"}", Some("chatcmpl-tool-9f149c74c42f265b"))], finish: "tool_calls", usage: [171, 14, 128, 0, 0], cost: None } },
    Case { file: "mistral/vercel_mistral-reasoning.response.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("2 + 2 = 4"), reasoning: Some(T::Exact("The user is asking for 2+2. This is basic arithmetic. 2+2=4.")), tools: &[], finish: "stop", usage: [10, 46, 0, 0, 0], cost: None } },
    Case { file: "mistral/vercel_mistral-reasoning.stream.jsonl", format: F::Mistral, provider: "mistral", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("2 + 2 = 4"), reasoning: Some(T::Exact("The user is asking for 2+2. This is basic arithmetic. 2+2=4.")), tools: &[], finish: "stop", usage: [10, 46, 0, 0, 0], cost: None } },
    Case { file: "mistral/vercel_mistral-text.response.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Long { head: "**Holiday Name: \"World Kindness Day of Sharing\"*", tail: "rate it? What would you share? 😊", chars: 1925 }, reasoning: None, tools: &[], finish: "stop", usage: [13, 434, 0, 0, 0], cost: None } },
    Case { file: "mistral/vercel_mistral-text.stream.jsonl", format: F::Mistral, provider: "mistral", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Hello, world! This is a test response."), reasoning: None, tools: &[], finish: "stop", usage: [13, 8, 0, 0, 0], cost: None } },
    Case { file: "mistral/vercel_mistral-tool-call.response.json", format: F::Mistral, provider: "mistral", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("weather", "{\"location\": \"San Francisco\"}", Some("gSIMJiOkT"))], finish: "tool_calls", usage: [124, 22, 0, 0, 0], cost: None } },
    Case { file: "mistral/vercel_mistral-tool-call.stream.jsonl", format: F::Mistral, provider: "mistral", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("weather", "{\"location\": \"San Francisco\"}", Some("gSIMJiOkT"))], finish: "tool_calls", usage: [124, 22, 0, 0, 0], cost: None } },
    Case { file: "openai/derived/vercel_azure-model-router.derived.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Capital of Denmark."), reasoning: None, tools: &[], finish: "stop", usage: [15, 78, 0, 0, 64], cost: None } },
    Case { file: "openai/derived/vercel_openai-text.derived.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Long { head: "**Holiday Name:** Harmony Day\n\n**Date:** Celebra", tail: " experiences and mutual respect.", chars: 1724 }, reasoning: None, tools: &[], finish: "stop", usage: [16, 300, 0, 0, 0], cost: None } },
    Case { file: "openai/error_401_invalid_api_key.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 401, meta: None,
        expect: E::Err { kind: ErrorKind::Authentication, status: Some(401), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "openai/error_429_insufficient_quota.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::Quota, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "openai/error_429_rate_limit_exceeded_tpm.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "openai/error_429_response_headers_openai_node_1477.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 429, meta: None,
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "openai/openaipy_nonstream_finish_length.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("{\""), reasoning: None, tools: &[], finish: "length", usage: [79, 1, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_nonstream_parallel_tool_calls.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("GetWeatherArgs", "{\"city\": \"Edinburgh\", \"country\": \"GB\", \"units\": \"c\"}", Some("call_fdNz3vOBKYgOIpMdWotB9MjY")), ("get_stock_price", "{\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}", Some("call_h1DWI1POMJLb0KwIyQHWXD4p"))], finish: "tool_calls", usage: [149, 60, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_nonstream_refusal.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("I'm very sorry, but I can't assist with that."), reasoning: None, tools: &[], finish: "stop", usage: [79, 12, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_nonstream_text.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Long { head: "I'm unable to provide real-time weather updates.", tail: "Channel or a local news station.", chars: 198 }, reasoning: None, tools: &[], finish: "stop", usage: [14, 37, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_nonstream_tool_call.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("GetWeatherArgs", "{\"city\":\"Edinburgh\",\"country\":\"UK\",\"units\":\"c\"}", Some("call_Y6qJ7ofLgOrBnMD5WbVAeiRV"))], finish: "tool_calls", usage: [76, 24, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_stream_finish_length.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("{\""), reasoning: None, tools: &[], finish: "length", usage: [79, 1, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_stream_logprobs.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Foo!"), reasoning: None, tools: &[], finish: "stop", usage: [9, 2, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_stream_multiple_choices_n3.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("{\"city\":\"San Francisco\",\"temperature\":65,\"units\":\"f\"}"), reasoning: None, tools: &[], finish: "stop", usage: [79, 42, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_stream_parallel_tool_calls.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("GetWeatherArgs", "{\"city\": \"Edinburgh\", \"country\": \"GB\", \"units\": \"c\"}", Some("call_JMW1whyEaYG438VE1OIflxA2")), ("get_stock_price", "{\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}", Some("call_DNYTawLBoN8fj3KN6qU9N1Ou"))], finish: "tool_calls", usage: [149, 60, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_stream_refusal.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("I'm sorry, I can't assist with that request."), reasoning: None, tools: &[], finish: "stop", usage: [79, 11, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_stream_single_tool_call.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("GetWeatherArgs", "{\"city\":\"Edinburgh\",\"country\":\"UK\",\"units\":\"c\"}", Some("call_c91SqDXlYFuETYv8mUHzz6pp"))], finish: "tool_calls", usage: [76, 24, 0, 0, 0], cost: None } },
    Case { file: "openai/openaipy_stream_text_with_usage.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I recommend checking a reliable weather website or a weather app."), reasoning: None, tools: &[], finish: "stop", usage: [14, 30, 0, 0, 0], cost: None } },
    Case { file: "openai/pai_error_400_unsupported_value.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 400, meta: Some("openai/pai_error_400_unsupported_value.response_meta.json"),
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: Some(400), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "openai/pai_nonstream_cache_write.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: Some("openai/pai_nonstream_cache_write.response_meta.json"),
        expect: E::Ok { text: T::Exact("OK"), reasoning: None, tools: &[], finish: "stop", usage: [4020, 4, 0, 4012, 0], cost: None } },
    Case { file: "openai/pai_nonstream_cached_tokens.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: Some("openai/pai_nonstream_cached_tokens.response_meta.json"),
        expect: E::Ok { text: T::Exact("OK"), reasoning: None, tools: &[], finish: "stop", usage: [4020, 4, 4012, 0, 0], cost: None } },
    Case { file: "openai/pai_nonstream_reasoning_tokens.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: Some("openai/pai_nonstream_reasoning_tokens.response_meta.json"),
        expect: E::Ok { text: T::Exact("Hello there! How can I help you today?"), reasoning: None, tools: &[], finish: "stop", usage: [7, 87, 0, 0, 64], cost: None } },
    Case { file: "openai/pai_stream_text_after_tool_result.response.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: Some("openai/pai_stream_text_after_tool_result.response_meta.json"),
        expect: E::Ok { text: T::Exact("The capital of the UK is London."), reasoning: None, tools: &[], finish: "stop", usage: [78, 9, 0, 0, 0], cost: None } },
    Case { file: "openai/pai_stream_tool_call.response.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: Some("openai/pai_stream_tool_call.response_meta.json"),
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("get_capital", "{\"country\":\"UK\"}", Some("call_ZR5UUuTt3pf61kjwAJIYdVMj"))], finish: "tool_calls", usage: [53, 15, 0, 0, 0], cost: None } },
    Case { file: "openai/spec_default.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Hello! How can I assist you today?"), reasoning: None, tools: &[], finish: "stop", usage: [19, 10, 0, 0, 0], cost: None } },
    Case { file: "openai/spec_functions.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("get_current_weather", "{\n\"location\": \"Boston, MA\"\n}", Some("call_abc123"))], finish: "tool_calls", usage: [82, 17, 0, 0, 0], cost: None } },
    Case { file: "openai/spec_logprobs.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Hello! How can I assist you today?"), reasoning: None, tools: &[], finish: "stop", usage: [9, 9, 0, 0, 0], cost: None } },
    Case { file: "openai/stream_azure_prompt_filter_first_chunk.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Hello"), reasoning: None, tools: &[], finish: "stop", usage: [0, 0, 0, 0, 0], cost: None } },
    Case { file: "openai/stream_error_after_output.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Err { kind: ErrorKind::Server, status: None, retry_ms: None, request_id: None, text_before: Some("Hello") } },
    Case { file: "openai/stream_error_first_chunk_server_error.sse", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Err { kind: ErrorKind::Server, status: None, retry_ms: None, request_id: None, text_before: Some("") } },
    Case { file: "openai/tidyllm_nonstream_json_schema.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: Some("openai/tidyllm_nonstream_json_schema.response_meta.json"),
        expect: E::Ok { text: T::Exact("{\"area\":42}"), reasoning: None, tools: &[], finish: "stop", usage: [53, 18, 0, 0, 0], cost: None } },
    Case { file: "openai/tidyllm_nonstream_text_with_ratelimit_headers.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: Some("openai/tidyllm_nonstream_text_with_ratelimit_headers.response_meta.json"),
        expect: E::Ok { text: T::Exact("Hello! How can I help you today?"), reasoning: None, tools: &[], finish: "stop", usage: [20, 18, 0, 0, 0], cost: None } },
    Case { file: "openai/vercel_azure-model-router.stream.jsonl", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Capital of Denmark."), reasoning: None, tools: &[], finish: "stop", usage: [15, 78, 0, 0, 64], cost: None } },
    Case { file: "openai/vercel_error_400_unsupported_parameter.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 400, meta: None,
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: Some(400), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "openai/vercel_openai-text.response.json", format: F::OpenAi, provider: "openai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Long { head: "**Holiday Name:** Galaxy Day  \n\n**Date:** Octobe", tail: "k up and dream beyond our world.", chars: 1842 }, reasoning: None, tools: &[], finish: "stop", usage: [16, 363, 0, 0, 0], cost: None } },
    Case { file: "openai/vercel_openai-text.stream.jsonl", format: F::OpenAi, provider: "openai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Long { head: "**Holiday Name:** Harmony Day\n\n**Date:** Celebra", tail: " experiences and mutual respect.", chars: 1724 }, reasoning: None, tools: &[], finish: "stop", usage: [16, 300, 0, 0, 0], cost: None } },
    Case { file: "openai_compatible/derived/vercel_xai-text.derived.sse", format: F::OpenAi, provider: "xai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Grok"), reasoning: Some(T::Long { head: "First, the user said: \"Say a single word.\" That'", tail: ", just the word.\n\nResponse: Grok", chars: 1455 }), tools: &[], finish: "stop", usage: [12, 342, 11, 0, 340], cost: Some(0.000172125) } },
    Case { file: "openai_compatible/derived/vercel_xai-tool-call.derived.sse", format: F::OpenAi, provider: "xai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: Some(T::Long { head: "First, the user is asking about the weather in S", tail: ", this is the logical next step.", chars: 1069 }), tools: &[("weather", "{\"location\":\"San Francisco\"}", Some("call_79382389"))], finish: "tool_calls", usage: [307, 253, 306, 0, 227], cost: Some(0.00014975) } },
    Case { file: "openai_compatible/pai_deepseek_nonstream_tool_call_reasoning.response.json", format: F::OpenAi, provider: "deepseek", mode: M::Complete, status: 200, meta: Some("openai_compatible/pai_deepseek_nonstream_tool_call_reasoning.response_meta.json"),
        expect: E::Ok { text: T::Exact("Let me load the dice rolling capability!"), reasoning: Some(T::Long { head: "The user wants to play a dice game. I need to ro", tail: "et me load the capability first.", chars: 233 }), tools: &[("load_capability", "{\"id\": \"DICE_ROLL\"}", Some("call_00_sXqYgMESDht75NCLLZtt9804"))], finish: "tool_calls", usage: [563, 116, 512, 0, 60], cost: None } },
    Case { file: "openai_compatible/pai_deepseek_stream_reasoning.response.sse", format: F::OpenAi, provider: "deepseek", mode: M::Stream, status: 200, meta: Some("openai_compatible/pai_deepseek_stream_reasoning.response_meta.json"),
        expect: E::Ok { text: T::Exact("Hello there! 😊 How can I help you today?"), reasoning: Some(T::Long { head: "Hmm, the user just said \"Hello\". It's a simple g", tail: "y further - and that's okay too.", chars: 882 }), tools: &[], finish: "stop", usage: [6, 212, 0, 0, 198], cost: None } },
    Case { file: "openai_compatible/pai_groq_error_400_tool_use_failed.response.json", format: F::OpenAi, provider: "groq", mode: M::Complete, status: 400, meta: Some("openai_compatible/pai_groq_error_400_tool_use_failed.response_meta.json"),
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: Some(400), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "openai_compatible/pai_groq_stream_midstream_error.response.sse", format: F::OpenAi, provider: "groq", mode: M::Stream, status: 200, meta: Some("openai_compatible/pai_groq_stream_midstream_error.response_meta.json"),
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: None, retry_ms: None, request_id: None, text_before: Some("") } },
    Case { file: "openai_compatible/tidyllm_deepseek_nonstream.response.json", format: F::OpenAi, provider: "deepseek", mode: M::Complete, status: 200, meta: Some("openai_compatible/tidyllm_deepseek_nonstream.response_meta.json"),
        expect: E::Ok { text: T::Exact("Hello! How can I assist you today?"), reasoning: None, tools: &[], finish: "stop", usage: [14, 9, 0, 0, 0], cost: None } },
    Case { file: "openai_compatible/tidyllm_groq_nonstream_with_ratelimit_headers.response.json", format: F::OpenAi, provider: "groq", mode: M::Complete, status: 200, meta: Some("openai_compatible/tidyllm_groq_nonstream_with_ratelimit_headers.response_meta.json"),
        expect: E::Ok { text: T::Exact("Hello! How can I help you today?"), reasoning: None, tools: &[], finish: "stop", usage: [30, 10, 0, 0, 0], cost: None } },
    Case { file: "openai_compatible/tidyllm_ollama_native_api_chat.response.json", format: F::OpenAi, provider: "ollama", mode: M::Complete, status: 200, meta: Some("openai_compatible/tidyllm_ollama_native_api_chat.response_meta.json"),
        expect: E::Err { kind: ErrorKind::InvalidResponse, status: None, retry_ms: None, request_id: None, text_before: None } },
    Case { file: "openai_compatible/tidyllm_perplexity_nonstream.response.json", format: F::OpenAi, provider: "perplexity", mode: M::Complete, status: 200, meta: Some("openai_compatible/tidyllm_perplexity_nonstream.response_meta.json"),
        expect: E::Ok { text: T::Exact("Silent web unfolds,  \nPerplexity finds the truth—  \nAnswers bloom like spring."), reasoning: None, tools: &[], finish: "stop", usage: [8, 19, 0, 0, 0], cost: Some(0.005) } },
    Case { file: "openai_compatible/vercel_anthropic-openai-compat-tool-call.sse", format: F::OpenAi, provider: "compat", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Reading it."), reasoning: None, tools: &[("read_file", "{\"path\": \"a.txt\"}", Some("toolu_sanitized"))], finish: "tool_calls", usage: [0, 0, 0, 0, 0], cost: None } },
    Case { file: "openai_compatible/vercel_xai-text.stream.jsonl", format: F::OpenAi, provider: "xai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact("Grok"), reasoning: Some(T::Long { head: "First, the user said: \"Say a single word.\" That'", tail: ", just the word.\n\nResponse: Grok", chars: 1455 }), tools: &[], finish: "stop", usage: [12, 342, 11, 0, 340], cost: Some(0.000172125) } },
    Case { file: "openai_compatible/vercel_xai-tool-call.response.json", format: F::OpenAi, provider: "xai", mode: M::Complete, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: Some(T::Long { head: "First, the user is asking about the weather in S", tail: "San Francisco\"}}</function_call>", chars: 1194 }), tools: &[("weather", "{\"location\":\"San Francisco\"}", Some("call_46427107"))], finish: "tool_calls", usage: [307, 281, 244, 0, 255], cost: Some(0.0001777) } },
    Case { file: "openai_compatible/vercel_xai-tool-call.stream.jsonl", format: F::OpenAi, provider: "xai", mode: M::Stream, status: 200, meta: None,
        expect: E::Ok { text: T::Exact(""), reasoning: Some(T::Long { head: "First, the user is asking about the weather in S", tail: ", this is the logical next step.", chars: 1069 }), tools: &[("weather", "{\"location\":\"San Francisco\"}", Some("call_79382389"))], finish: "tool_calls", usage: [307, 253, 306, 0, 227], cost: Some(0.00014975) } },
    Case { file: "openrouter/pai_error_429_provider_returned_error.response.json", format: F::OpenAi, provider: "openrouter", mode: M::Complete, status: 429, meta: Some("openrouter/pai_error_429_provider_returned_error.response_meta.json"),
        expect: E::Err { kind: ErrorKind::RateLimited, status: Some(429), retry_ms: None, request_id: None, text_before: None } },
    Case { file: "openrouter/pai_nonstream_anthropic_cache_read.response.json", format: F::OpenAi, provider: "openrouter", mode: M::Complete, status: 200, meta: Some("openrouter/pai_nonstream_anthropic_cache_read.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "Distributed database systems involve tradeoffs b", tail: "e, scalability, and reliability.", chars: 300 }, reasoning: None, tools: &[], finish: "stop", usage: [3329, 53, 3211, 115, 0], cost: Some(0.00219855) } },
    Case { file: "openrouter/pai_nonstream_tool_call.response.json", format: F::OpenAi, provider: "openrouter", mode: M::Complete, status: 200, meta: Some("openrouter/pai_nonstream_tool_call.response_meta.json"),
        expect: E::Ok { text: T::Exact(""), reasoning: None, tools: &[("divide", "{\"numerator\": 123, \"denominator\": 456, \"on_inf\": \"infinity\"}", Some("3sniiMddS"))], finish: "tool_calls", usage: [134, 43, 0, 0, 0], cost: None } },
    Case { file: "openrouter/pai_nonstream_usage_cost.response.json", format: F::OpenAi, provider: "openrouter", mode: M::Complete, status: 200, meta: Some("openrouter/pai_nonstream_usage_cost.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "Brief summary\n- Venus is the second planet from ", tail: "ability. Which would you prefer?", chars: 3554 }, reasoning: Some(T::Long { head: "**Exploring Venus**\n\nThe user wants a concise ye", tail: "providing key numbers and facts.", chars: 2698 }), tools: &[], finish: "stop", usage: [17, 1515, 0, 0, 704], cost: None } },
    Case { file: "openrouter/pai_stream_midstream_error.response.sse", format: F::OpenAi, provider: "openrouter", mode: M::Stream, status: 200, meta: Some("openrouter/pai_stream_midstream_error.response_meta.json"),
        expect: E::Err { kind: ErrorKind::InvalidRequest, status: None, retry_ms: None, request_id: None, text_before: Some("") } },
    Case { file: "openrouter/pai_stream_reasoning_claude.response.sse", format: F::OpenAi, provider: "openrouter", mode: M::Stream, status: 200, meta: Some("openrouter/pai_stream_reasoning_claude.response_meta.json"),
        expect: E::Ok { text: T::Exact("2 + 2 = 4"), reasoning: Some(T::Exact("This is a simple arithmetic question. 2+2 equals 4.")), tools: &[], finish: "stop", usage: [43, 36, 0, 0, 13], cost: Some(0.000669) } },
    Case { file: "openrouter/pai_stream_reasoning_o3.response.sse", format: F::OpenAi, provider: "openrouter", mode: M::Stream, status: 200, meta: Some("openrouter/pai_stream_reasoning_o3.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "I’m ChatGPT, a large-language-model assistant cr", tail: "ike help with, just let me know!", chars: 446 }, reasoning: None, tools: &[], finish: "stop", usage: [9, 104, 0, 0, 0], cost: Some(0.00085) } },
    Case { file: "openrouter/pai_stream_text_grok.response.sse", format: F::OpenAi, provider: "openrouter", mode: M::Stream, status: 200, meta: Some("openrouter/pai_stream_text_grok.response_meta.json"),
        expect: E::Ok { text: T::Long { head: "I'm Grok, an AI built by xAI. I'm designed to be", tail: "g the way). What's on your mind?", chars: 284 }, reasoning: None, tools: &[], finish: "stop", usage: [687, 187, 679, 0, 118], cost: Some(0.00333825) } },
    Case { file: "openrouter/stream_keepalive_comment_only.sse", format: F::OpenAi, provider: "openrouter", mode: M::Stream, status: 200, meta: None,
        expect: E::Err { kind: ErrorKind::Connection, status: None, retry_ms: None, request_id: None, text_before: Some("") } },
];

// ---------------------------------------------------------------------------------------------
// Fixture access

fn fixtures_dir() -> PathBuf {
    let dir = match std::env::var("POLYFUSE_FIXTURES") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        // The manifest dir at run time (cargo sets it), not the one compiled in: a target dir
        // shared between clones must not point the tests at another clone's fixtures.
        _ => PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
        )
        .join("../tests/fixtures/providers"),
    };
    assert!(
        dir.join("FILES.txt").is_file(),
        "provider fixtures not found at {} (set POLYFUSE_FIXTURES): these tests fail rather than skip",
        dir.display()
    );
    dir
}

fn read(rel: &str) -> Vec<u8> {
    let p = fixtures_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read_json(rel: &str) -> Value {
    serde_json::from_slice(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn openai_like(f: F) -> bool {
    matches!(f, F::OpenAi | F::Mistral)
}

/// The bytes the server sends: the file as recorded; a header-only fixture has no body; a
/// `*.stream.jsonl` (data payloads only) is framed as SSE the way its recorder replays it.
fn body_of(case: &Case) -> Vec<u8> {
    let raw = read(case.file);
    if case.file.contains("response_headers") {
        return Vec::new();
    }
    if case.file.ends_with(".stream.jsonl") {
        let mut out = String::new();
        for line in String::from_utf8(raw)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            out.push_str("data: ");
            out.push_str(line);
            out.push_str("\n\n");
        }
        if openai_like(case.format) {
            out.push_str("data: [DONE]\n\n");
        }
        return out.into_bytes();
    }
    raw
}

/// Recorded response headers of a case (name, value), without framing headers: the body is
/// re-sent decoded and re-framed, so content-length / transfer-encoding / content-encoding go.
fn headers_of(case: &Case) -> Vec<(String, String)> {
    let meta = if case.file.contains("response_headers") {
        Some(read_json(case.file))
    } else {
        case.meta.map(read_json)
    };
    let mut out = Vec::new();
    if let Some(meta) = meta {
        match &meta["response_headers"] {
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::Array(values) => out.extend(
                            values
                                .iter()
                                .filter_map(|x| x.as_str())
                                .map(|x| (k.clone(), x.to_string())),
                        ),
                        Value::String(s) => out.push((k.clone(), s.clone())),
                        _ => {}
                    }
                }
            }
            Value::Array(pairs) => {
                for p in pairs {
                    if let (Some(k), Some(v)) = (p[0].as_str(), p[1].as_str()) {
                        out.push((k.to_string(), v.to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    out.retain(|(k, _)| {
        !matches!(
            k.to_ascii_lowercase().as_str(),
            "content-length"
                | "transfer-encoding"
                | "content-encoding"
                | "connection"
                | "keep-alive"
        )
    });
    out
}

/// The status the recording says (meta), else the case's.
fn status_of(case: &Case) -> u16 {
    if let Some(meta) = case.meta {
        let m = read_json(meta);
        let s = m["status"]["code"]
            .as_u64()
            .or(m["status"].as_u64())
            .expect("meta status");
        assert_eq!(
            s as u16, case.status,
            "{}: the table's status disagrees with {meta}",
            case.file
        );
    }
    case.status
}

// ---------------------------------------------------------------------------------------------
// The loopback server

#[derive(Clone, Debug, Default)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

/// Serves `body` once per connection, `times` connections, recording each request line and headers.
async fn serve(
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    sse: bool,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (headers, body, log) = (headers.clone(), body.clone(), log.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or("").split(' ');
                let mut s = Seen {
                    method: first.next().unwrap_or("").into(),
                    target: first.next().unwrap_or("").into(),
                    headers: Vec::new(),
                };
                for l in lines.filter(|l| !l.is_empty()) {
                    if let Some((k, v)) = l.split_once(':') {
                        s.headers
                            .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let len: usize = s
                    .headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() - head_end < len {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                log.lock().unwrap().push(s);
                let mut out = format!("HTTP/1.1 {status} Recorded\r\n");
                let has_ct = headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
                for (k, v) in &headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                if !has_ct {
                    out.push_str(if sse {
                        "content-type: text/event-stream\r\n"
                    } else {
                        "content-type: application/json\r\n"
                    });
                }
                out.push_str("connection: close\r\n");
                if sse {
                    out.push_str("transfer-encoding: chunked\r\n\r\n");
                    if sock.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                    // Uneven pieces, so events and line ends are split across reads.
                    let sizes = [1usize, 3, 7, 64, 5, 2, 301, 13];
                    let (mut i, mut k) = (0, 0);
                    while i < body.len() {
                        let n = sizes[k % sizes.len()].min(body.len() - i);
                        k += 1;
                        let mut chunk = format!("{n:x}\r\n").into_bytes();
                        chunk.extend_from_slice(&body[i..i + n]);
                        chunk.extend_from_slice(b"\r\n");
                        if sock.write_all(&chunk).await.is_err() {
                            return;
                        }
                        let _ = sock.flush().await;
                        i += n;
                    }
                    let _ = sock.write_all(b"0\r\n\r\n").await;
                } else {
                    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                    let mut all = out.into_bytes();
                    all.extend_from_slice(&body);
                    let _ = sock.write_all(&all).await;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

fn base_path(f: F) -> &'static str {
    match f {
        F::Gemini => "/v1beta",
        _ => "/v1",
    }
}

fn format_name(f: F) -> &'static str {
    match f {
        F::OpenAi => "openai",
        F::Anthropic => "anthropic",
        F::Gemini => "gemini",
        F::Mistral => "mistral",
    }
}

fn client_for(case: &Case, base: &str) -> Client {
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {case.provider: {"format": format_name(case.format), "base_url": format!("{base}{}", base_path(case.format)), "api_key": KEY}},
        "policy": {"max_attempts_per_target": 1, "breaker": {"enabled": false}, "complete_via_stream": false},
    }))
    .unwrap();
    Client::new(config, Vec::new()).unwrap()
}

/// A provider built directly (for what the Client does not expose: replay, request bodies,
/// the reasoning text of a non-streamed completion).
enum P {
    O(OpenAiProvider),
    A(AnthropicProvider),
    G(GeminiProvider),
    M(MistralProvider),
}

impl P {
    fn new(format: F, name: &str, base: &str) -> P {
        Self::build(format, name, base, None)
    }
    fn with_max_tokens_field(format: F, name: &str, field: &str) -> P {
        Self::build(format, name, "http://127.0.0.1:9", Some(field.to_string()))
    }
    fn build(format: F, name: &str, base: &str, max_tokens_field: Option<String>) -> P {
        let pc = ProviderConfig {
            format: match format {
                F::OpenAi => Some(WireFormat::Openai),
                F::Anthropic => Some(WireFormat::Anthropic),
                F::Gemini => Some(WireFormat::Gemini),
                F::Mistral => Some(WireFormat::Mistral),
            },
            base_url: Some(format!("{base}{}", base_path(format))),
            api_key: Some(Secret::new(KEY)),
            api_key_env: None,
            auth_header: None,
            headers: Default::default(),
            query: Default::default(),
            max_tokens_field,
            limits: Default::default(),
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        match format {
            F::OpenAi => P::O(OpenAiProvider::new(name, &pc, http).unwrap()),
            F::Anthropic => P::A(AnthropicProvider::new(name, &pc, http).unwrap()),
            F::Gemini => P::G(GeminiProvider::new(name, &pc, http).unwrap()),
            F::Mistral => P::M(MistralProvider::new(name, &pc, http).unwrap()),
        }
    }
    fn dynp(&self) -> &dyn Provider {
        match self {
            P::O(p) => p,
            P::A(p) => p,
            P::G(p) => p,
            P::M(p) => p,
        }
    }
    fn replay(&self, chunks: Vec<bytes::Bytes>) -> ProviderStream {
        match self {
            P::O(p) => p.replay_sse("m", chunks),
            P::A(p) => p.replay_sse("m", chunks),
            P::G(p) => p.replay_sse("m", chunks),
            P::M(p) => p.replay_sse("m", chunks),
        }
    }
    fn body(&self, model: &str, req: &Request, stream: bool) -> Value {
        match self {
            P::O(p) => p.request_body(model, req, stream),
            P::A(p) => p.request_body(model, req, stream),
            P::G(p) => p.request_body(model, req, stream),
            P::M(p) => p.request_body(model, req, stream),
        }
        .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Running and checking

/// What one exchange produced, however it was obtained.
#[derive(Debug, Default)]
struct Got {
    text: String,
    /// None: not observable on this path (a non-streamed Response has no reasoning field).
    reasoning: Option<String>,
    tools: Vec<ToolCall>,
    finish: String,
    usage: Usage,
    err: Option<Error>,
    /// Concatenated text deltas (streams).
    streamed_text: String,
    streamed_tools: Vec<(u32, Option<String>, Option<String>, String)>,
}

fn request(case: &Case) -> Request {
    Request::from_values(&format!("{}/m", case.provider), json!("Hello"), Value::Null).unwrap()
}

async fn via_client(case: &Case, base: &str) -> Got {
    let client = client_for(case, base);
    let mut got = Got::default();
    match case.mode {
        M::Complete => match client.complete(request(case)).await {
            Ok(r) => {
                got.text = r.text;
                got.tools = r.message.tool_calls;
                got.finish = r.finish_reason.as_str().to_string();
                got.usage = r.usage;
            }
            Err(e) => got.err = Some(e),
        },
        M::Stream => {
            let mut s = client.stream(request(case));
            let mut reasoning = String::new();
            while let Some(item) = s.next().await {
                match item {
                    Ok(StreamEvent::TextDelta { text }) => got.streamed_text.push_str(&text),
                    Ok(StreamEvent::ReasoningDelta { text }) => reasoning.push_str(&text),
                    Ok(StreamEvent::ToolCallDelta {
                        index,
                        id,
                        name,
                        arguments,
                    }) => got.streamed_tools.push((index, id, name, arguments)),
                    Ok(StreamEvent::Final { response }) => {
                        got.text = response.text;
                        got.tools = response.message.tool_calls;
                        got.finish = response.finish_reason.as_str().to_string();
                        got.usage = response.usage;
                    }
                    Ok(StreamEvent::Restart { .. }) => panic!("{}: unexpected restart", case.file),
                    Err(e) => {
                        got.err = Some(e);
                        break;
                    }
                }
            }
            got.reasoning = Some(reasoning);
        }
    }
    got
}

fn from_completion(c: Completion) -> Got {
    Got {
        text: c.message.text(),
        reasoning: Some(c.reasoning.unwrap_or_default()),
        tools: c.message.tool_calls,
        finish: c.finish_reason.as_str().to_string(),
        usage: c.usage,
        ..Got::default()
    }
}

async fn collect_provider_stream(mut s: ProviderStream) -> Got {
    let mut got = Got::default();
    let mut reasoning = String::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(ProviderEvent::TextDelta(t)) => got.streamed_text.push_str(&t),
            Ok(ProviderEvent::ReasoningDelta(t)) => reasoning.push_str(&t),
            Ok(ProviderEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            }) => got.streamed_tools.push((index, id, name, arguments)),
            Ok(ProviderEvent::Usage(_) | ProviderEvent::Alive) => {}
            Ok(ProviderEvent::Done(c)) => {
                let streamed_text = std::mem::take(&mut got.streamed_text);
                let streamed_tools = std::mem::take(&mut got.streamed_tools);
                got = from_completion(*c);
                got.streamed_text = streamed_text;
                got.streamed_tools = streamed_tools;
                return got;
            }
            Err(e) => {
                got.err = Some(e);
                got.reasoning = Some(reasoning);
                return got;
            }
        }
    }
    panic!("provider stream ended without Done or an error");
}

fn same_json_or_text(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn check(case: &Case, got: &Got, path: &str) {
    let file = format!("{} [{path}]", case.file);
    match &case.expect {
        E::Ok {
            text,
            reasoning,
            tools,
            finish,
            usage,
            cost,
        } => {
            if let Some(e) = &got.err {
                panic!("{file}: expected success, got {:?}: {e}", e.kind);
            }
            text.check(&got.text, "text", &file);
            if case.mode == M::Stream {
                assert_eq!(
                    got.streamed_text, got.text,
                    "{file}: text deltas must add up to the final text"
                );
            }
            if let Some(r) = &got.reasoning {
                match reasoning {
                    Some(t) => t.check(r, "reasoning", &file),
                    None => assert_eq!(r, "", "{file}: reasoning"),
                }
            }
            assert_eq!(
                got.tools.len(),
                tools.len(),
                "{file}: tool calls {:?}",
                got.tools
            );
            let mut ids = BTreeSet::new();
            for (tc, (name, args, id)) in got.tools.iter().zip(tools.iter()) {
                assert_eq!(tc.function.name, *name, "{file}: tool name");
                assert!(
                    same_json_or_text(&tc.function.arguments, args),
                    "{file}: arguments of {name}: {} vs {args}",
                    tc.function.arguments
                );
                match id {
                    Some(id) => assert_eq!(tc.id, *id, "{file}: tool id"),
                    None => assert!(!tc.id.is_empty(), "{file}: a synthesized id is needed"),
                }
                assert!(
                    ids.insert(tc.id.clone()),
                    "{file}: duplicate tool id {}",
                    tc.id
                );
            }
            if case.mode == M::Stream {
                // The deltas, accumulated by index, give the same calls.
                let mut by_index: std::collections::BTreeMap<u32, (String, String, String)> =
                    Default::default();
                for (i, id, name, args) in &got.streamed_tools {
                    let e = by_index.entry(*i).or_default();
                    if let Some(id) = id {
                        e.0 = id.clone();
                    }
                    if let Some(n) = name {
                        e.1.push_str(n);
                    }
                    e.2.push_str(args);
                }
                let rebuilt: Vec<_> = by_index.into_values().collect();
                assert_eq!(rebuilt.len(), got.tools.len(), "{file}: tool deltas");
                for (r, tc) in rebuilt.iter().zip(&got.tools) {
                    assert_eq!(
                        (&r.0, &r.1, &r.2),
                        (&tc.id, &tc.function.name, &tc.function.arguments),
                        "{file}: tool deltas add up"
                    );
                }
            }
            assert_eq!(got.finish, *finish, "{file}: finish reason");
            let u = &got.usage;
            if *usage == [0, 0, 0, 0, 0] {
                // The recording carries no usage: the parser says "unknown", never 0, and the
                // client estimates it (marked as such) for the completed answer.
                if path == "client" {
                    assert_eq!(u.source, UsageSource::Estimated, "{file}: usage source");
                    assert!(u.output_tokens > 0, "{file}: estimated output tokens");
                } else {
                    assert_eq!(u.source, UsageSource::Unknown, "{file}: usage source");
                }
            } else {
                assert_eq!(u.source, UsageSource::Reported, "{file}: usage source");
                assert_eq!(
                    [
                        u.input_tokens,
                        u.output_tokens,
                        u.cached_input_tokens,
                        u.cache_write_tokens,
                        u.reasoning_tokens
                    ],
                    *usage,
                    "{file}: usage [input, output, cached, cache_write, reasoning]"
                );
            }
            match (cost, u.cost_usd) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{file}: cost {b} vs {a}"),
                (a, b) => panic!("{file}: cost {b:?} vs expected {a:?}"),
            }
        }
        E::Err {
            kind,
            status,
            retry_ms,
            request_id,
            text_before,
        } => {
            let e = got
                .err
                .as_ref()
                .unwrap_or_else(|| panic!("{file}: expected {kind:?}, got success: {got:?}"));
            assert_eq!(e.kind, *kind, "{file}: error kind ({e})");
            if path != "bytewise" {
                assert_eq!(e.status, *status, "{file}: status");
            }
            assert_eq!(
                e.retry_after,
                retry_ms.map(Duration::from_millis),
                "{file}: retry delay"
            );
            if let Some(id) = request_id {
                assert_eq!(e.request_id.as_deref(), Some(*id), "{file}: request id");
            }
            if let Some(t) = text_before {
                assert_eq!(
                    got.streamed_text, *t,
                    "{file}: text streamed before the error"
                );
            }
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(KEY),
                "{file}: the key leaked into the error: {shown}"
            );
        }
    }
}

fn check_request(case: &Case, seen: &Seen) {
    assert_eq!(seen.method, "POST", "{}", case.file);
    assert!(
        !seen.target.contains(KEY),
        "{}: the key is in the URL",
        case.file
    );
    let header = |name: &str| {
        seen.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let stream = case.mode == M::Stream;
    match case.format {
        F::OpenAi | F::Mistral => {
            assert_eq!(seen.target, "/v1/chat/completions", "{}", case.file);
            assert_eq!(
                header("authorization"),
                Some(format!("Bearer {KEY}").as_str()),
                "{}",
                case.file
            );
        }
        F::Anthropic => {
            assert_eq!(seen.target, "/v1/messages", "{}", case.file);
            assert_eq!(header("x-api-key"), Some(KEY), "{}", case.file);
            assert_eq!(
                header("anthropic-version"),
                Some("2023-06-01"),
                "{}",
                case.file
            );
        }
        F::Gemini => {
            let want = if stream {
                "/v1beta/models/m:streamGenerateContent?alt=sse"
            } else {
                "/v1beta/models/m:generateContent"
            };
            assert_eq!(seen.target, want, "{}", case.file);
            assert_eq!(header("x-goog-api-key"), Some(KEY), "{}", case.file);
        }
    }
}

/// Every payload, over real HTTP, through a Client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_over_http() {
    let mut failures = Vec::new();
    for case in CASES {
        let status = status_of(case);
        let body = body_of(case);
        let (base, seen) = serve(status, headers_of(case), body, case.mode == M::Stream).await;
        let outcome = std::panic::AssertUnwindSafe(async {
            let got = via_client(case, &base).await;
            check(case, &got, "client");
            check_request(case, &seen.lock().unwrap()[0]);
            // A non-streamed completion's reasoning is on the provider's Completion.
            if case.mode == M::Complete && matches!(case.expect, E::Ok { .. }) {
                let p = P::new(case.format, case.provider, &base);
                let c = p.dynp().complete("m", &request(case)).await.unwrap();
                check(case, &from_completion(c), "provider");
            }
        });
        if let Err(p) = futures_util::FutureExt::catch_unwind(outcome).await {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or(p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// Every streamed payload parsed from one-byte reads gives the expected result too.
#[tokio::test]
async fn bytewise_streams_match() {
    let mut failures = Vec::new();
    for case in CASES.iter().filter(|c| c.mode == M::Stream) {
        let p = P::new(case.format, case.provider, "http://127.0.0.1:9");
        let chunks: Vec<bytes::Bytes> = body_of(case)
            .into_iter()
            .map(|b| bytes::Bytes::from(vec![b]))
            .collect();
        let outcome = std::panic::AssertUnwindSafe(async {
            let got = collect_provider_stream(p.replay(chunks)).await;
            check(case, &got, "bytewise");
        });
        if let Err(p) = futures_util::FutureExt::catch_unwind(outcome).await {
            failures.push(p.downcast_ref::<String>().cloned().unwrap_or_default());
        }
    }
    assert!(
        failures.is_empty(),
        "{} streams failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// No file in the folder is left out: each is a case, a recorded request, a case's meta, or a
/// listed non-payload.
#[test]
fn every_fixture_file_is_covered() {
    let dir = fixtures_dir();
    let listed: Vec<String> = std::fs::read_to_string(dir.join("FILES.txt"))
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let mut on_disk = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                on_disk.push(
                    p.strip_prefix(&dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let cases: BTreeSet<&str> = CASES.iter().map(|c| c.file).collect();
    assert_eq!(cases.len(), CASES.len(), "a file is listed twice");
    let metas: BTreeSet<&str> = CASES.iter().filter_map(|c| c.meta).collect();
    let requests: BTreeSet<&str> = REQUESTS.iter().map(|r| r.0).collect();
    let mut missing = Vec::new();
    for f in on_disk.iter().chain(listed.iter()) {
        let f = f.as_str();
        let covered = cases.contains(f)
            || metas.contains(f)
            || requests.contains(f)
            || f.ends_with("/SOURCES.md")
            || NON_PAYLOADS.iter().any(|(n, _)| *n == f);
        if !covered {
            missing.push(f.to_string());
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "fixture files no test covers:\n{}",
        missing.join("\n")
    );
    for c in CASES {
        assert!(
            on_disk.iter().any(|f| f == c.file),
            "{} is in the table but not on disk",
            c.file
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Recorded requests: the same logical Request, built by our body builders

/// (file, format, provider name, `max_tokens_field` of that provider's config)
const REQUESTS: &[(&str, F, &str, Option<&str>)] = &[
    (
        "anthropic/pai_error_400_invalid_request.request.json",
        F::Anthropic,
        "anthropic",
        None,
    ),
    (
        "anthropic/pai_error_404_not_found.request.json",
        F::Anthropic,
        "anthropic",
        None,
    ),
    (
        "anthropic/pai_nonstream_after_tool_result.request.json",
        F::Anthropic,
        "anthropic",
        None,
    ),
    (
        "anthropic/pai_nonstream_cache_read.request.json",
        F::Anthropic,
        "anthropic",
        None,
    ),
    (
        "anthropic/pai_nonstream_parallel_tool_use.request.json",
        F::Anthropic,
        "anthropic",
        None,
    ),
    (
        "anthropic/pai_nonstream_text.request.json",
        F::Anthropic,
        "anthropic",
        None,
    ),
    (
        "anthropic/pai_stream_thinking.request.json",
        F::Anthropic,
        "anthropic",
        None,
    ),
    (
        "gemini/pai_generate_cached_content_tokens.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_generate_finish_max_tokens.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_generate_finish_safety.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_generate_function_call.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_generate_function_call_thought_signature.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_generate_max_tokens_no_parts.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_generate_text.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_stream_after_function_response.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_stream_function_call.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_stream_function_call_gemini3.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_stream_text.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_stream_thinking.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "gemini/pai_stream_usage_every_chunk.request.json",
        F::Gemini,
        "google",
        None,
    ),
    (
        "mistral/pai_nonstream_cached_tokens.request.json",
        F::Mistral,
        "mistral",
        None,
    ),
    (
        "mistral/pai_nonstream_text.request.json",
        F::Mistral,
        "mistral",
        None,
    ),
    (
        "mistral/pai_nonstream_thinking.request.json",
        F::Mistral,
        "mistral",
        None,
    ),
    (
        "mistral/pai_nonstream_tool_call.request.json",
        F::Mistral,
        "mistral",
        None,
    ),
    (
        "mistral/pai_stream_thinking.request.json",
        F::Mistral,
        "mistral",
        None,
    ),
    (
        "openai/pai_error_400_unsupported_value.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai/pai_nonstream_cache_write.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai/pai_nonstream_cached_tokens.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai/pai_nonstream_reasoning_tokens.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai/pai_stream_text_after_tool_result.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai/pai_stream_tool_call.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai/spec_default.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai/spec_functions.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai/spec_logprobs.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai/spec_streaming.request.json",
        F::OpenAi,
        "openai",
        None,
    ),
    (
        "openai_compatible/pai_deepseek_nonstream_tool_call_reasoning.request.json",
        F::OpenAi,
        "deepseek",
        None,
    ),
    (
        "openai_compatible/pai_deepseek_stream_reasoning.request.json",
        F::OpenAi,
        "deepseek",
        None,
    ),
    (
        "openai_compatible/pai_groq_error_400_tool_use_failed.request.json",
        F::OpenAi,
        "groq",
        None,
    ),
    (
        "openai_compatible/pai_groq_stream_midstream_error.request.json",
        F::OpenAi,
        "groq",
        None,
    ),
    (
        "openrouter/pai_error_429_provider_returned_error.request.json",
        F::OpenAi,
        "openrouter",
        Some("max_completion_tokens"),
    ),
    (
        "openrouter/pai_nonstream_anthropic_cache_read.request.json",
        F::OpenAi,
        "openrouter",
        Some("max_completion_tokens"),
    ),
    (
        "openrouter/pai_nonstream_tool_call.request.json",
        F::OpenAi,
        "openrouter",
        Some("max_completion_tokens"),
    ),
    (
        "openrouter/pai_nonstream_usage_cost.request.json",
        F::OpenAi,
        "openrouter",
        Some("max_completion_tokens"),
    ),
    (
        "openrouter/pai_stream_midstream_error.request.json",
        F::OpenAi,
        "openrouter",
        Some("max_completion_tokens"),
    ),
    (
        "openrouter/pai_stream_reasoning_claude.request.json",
        F::OpenAi,
        "openrouter",
        Some("max_completion_tokens"),
    ),
    (
        "openrouter/pai_stream_reasoning_o3.request.json",
        F::OpenAi,
        "openrouter",
        Some("max_completion_tokens"),
    ),
    (
        "openrouter/pai_stream_text_grok.request.json",
        F::OpenAi,
        "openrouter",
        Some("max_completion_tokens"),
    ),
];

/// Parameters polyfuse models, by their OpenAI names; everything else of a recorded body goes
/// to `extra` (sent unchanged).
const PARAMS: &[&str] = &[
    "temperature",
    "top_p",
    "stop",
    "seed",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "user",
];

fn lift_openai(body: &Value, format: F) -> (String, Value, Value) {
    let mut messages = body["messages"].clone();
    for m in messages.as_array_mut().unwrap() {
        let m = m.as_object_mut().unwrap();
        m.retain(|k, _| {
            matches!(
                k.as_str(),
                "role" | "content" | "name" | "tool_calls" | "tool_call_id"
            )
        });
        if let Some(Value::Array(parts)) = m.get_mut("content") {
            parts.retain(|p| p["type"] != "thinking");
            for p in parts {
                p.as_object_mut()
                    .unwrap()
                    .retain(|k, _| matches!(k.as_str(), "type" | "text" | "image_url"));
            }
        }
    }
    let mut params = serde_json::Map::new();
    let mut extra = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap() {
        match k.as_str() {
            "model" | "messages" | "stream" | "stream_options" => {}
            "max_tokens" | "max_completion_tokens" => {
                params.insert("max_tokens".into(), v.clone());
            }
            "random_seed" if format == F::Mistral => {
                params.insert("seed".into(), v.clone());
            }
            k if PARAMS.contains(&k) => {
                params.insert(k.into(), v.clone());
            }
            _ => {
                extra.insert(k.clone(), v.clone());
            }
        }
    }
    if !extra.is_empty() {
        params.insert("extra".into(), Value::Object(extra));
    }
    (
        body["model"].as_str().unwrap().to_string(),
        messages,
        Value::Object(params),
    )
}

fn anthropic_text_blocks_to_parts(blocks: &[Value]) -> Value {
    Value::Array(
        blocks
            .iter()
            .map(|b| match b["type"].as_str() {
                Some("image") => {
                    let s = &b["source"];
                    let url = match s["type"].as_str() {
                        Some("base64") => format!(
                            "data:{};base64,{}",
                            s["media_type"].as_str().unwrap(),
                            s["data"].as_str().unwrap()
                        ),
                        _ => s["url"].as_str().unwrap().to_string(),
                    };
                    json!({"type": "image_url", "image_url": {"url": url}})
                }
                _ => json!({"type": "text", "text": b["text"]}),
            })
            .collect(),
    )
}

fn lift_anthropic(body: &Value) -> (String, Value, Value) {
    let mut messages = Vec::new();
    match &body["system"] {
        Value::String(s) => messages.push(json!({"role": "system", "content": s})),
        Value::Array(blocks) => {
            for b in blocks {
                messages.push(json!({"role": "system", "content": b["text"]}));
            }
        }
        _ => {}
    }
    for m in body["messages"].as_array().unwrap() {
        let blocks: Vec<Value> = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(b) => b.clone(),
            _ => vec![],
        };
        if m["role"] == "assistant" {
            let text: String = blocks
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect();
            let calls: Vec<Value> = blocks
                .iter()
                .filter(|b| b["type"] == "tool_use")
                .map(|b| json!({"id": b["id"], "type": "function", "function": {"name": b["name"], "arguments": b["input"].to_string()}}))
                .collect();
            let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { Value::String(text) }});
            if !calls.is_empty() {
                msg["tool_calls"] = Value::Array(calls);
            }
            messages.push(msg);
        } else {
            for b in blocks.iter().filter(|b| b["type"] == "tool_result") {
                let content = match &b["content"] {
                    Value::Array(parts) => anthropic_text_blocks_to_parts(parts),
                    other => other.clone(),
                };
                messages.push(
                    json!({"role": "tool", "tool_call_id": b["tool_use_id"], "content": content}),
                );
            }
            let rest: Vec<Value> = blocks
                .into_iter()
                .filter(|b| b["type"] != "tool_result")
                .collect();
            if !rest.is_empty() {
                messages.push(
                    json!({"role": "user", "content": anthropic_text_blocks_to_parts(&rest)}),
                );
            }
        }
    }
    let mut params = serde_json::Map::new();
    let mut extra = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap() {
        match k.as_str() {
            "model" | "messages" | "system" | "stream" => {}
            "max_tokens" | "temperature" | "top_p" => {
                params.insert(k.clone(), v.clone());
            }
            "stop_sequences" => {
                params.insert("stop".into(), v.clone());
            }
            "tools" => {
                let tools: Vec<Value> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| json!({"type": "function", "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]}}))
                    .collect();
                params.insert("tools".into(), Value::Array(tools));
            }
            "tool_choice"
                if v.as_object()
                    .is_some_and(|o| o.len() == 1 || o.contains_key("name")) =>
            {
                let choice = match v["type"].as_str() {
                    Some("auto") => json!("auto"),
                    Some("none") => json!("none"),
                    Some("any") => json!("required"),
                    _ => json!({"type": "function", "function": {"name": v["name"]}}),
                };
                params.insert("tool_choice".into(), choice);
            }
            "metadata"
                if v.as_object()
                    .is_some_and(|o| o.len() == 1 && o.contains_key("user_id")) =>
            {
                params.insert("user".into(), v["user_id"].clone());
            }
            _ => {
                extra.insert(k.clone(), v.clone());
            }
        }
    }
    if !extra.is_empty() {
        params.insert("extra".into(), Value::Object(extra));
    }
    (
        body["model"].as_str().unwrap_or("m").to_string(),
        Value::Array(messages),
        Value::Object(params),
    )
}

fn lift_gemini(body: &Value) -> (Value, Value) {
    let mut messages = Vec::new();
    if let Some(parts) = body["systemInstruction"]["parts"].as_array() {
        let text: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        messages.push(json!({"role": "system", "content": text.join("\n\n")}));
    }
    for c in body["contents"].as_array().unwrap() {
        let parts = c["parts"].as_array().unwrap();
        if c["role"] == "model" {
            let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            let calls: Vec<Value> = parts
                .iter()
                .filter_map(|p| p.get("functionCall"))
                .map(|f| json!({"id": f["id"], "type": "function", "function": {"name": f["name"], "arguments": f["args"].to_string()}}))
                .collect();
            let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { Value::String(text) }});
            if !calls.is_empty() {
                msg["tool_calls"] = Value::Array(calls);
            }
            messages.push(msg);
        } else {
            let mut user_parts = Vec::new();
            for p in parts {
                if let Some(fr) = p.get("functionResponse") {
                    messages.push(json!({"role": "tool", "tool_call_id": fr["id"], "content": fr["response"].to_string()}));
                } else if let Some(t) = p.get("text") {
                    user_parts.push(json!({"type": "text", "text": t}));
                } else if let Some(f) = p.get("fileData") {
                    user_parts
                        .push(json!({"type": "image_url", "image_url": {"url": f["fileUri"]}}));
                } else if let Some(d) = p.get("inlineData") {
                    let url = format!(
                        "data:{};base64,{}",
                        d["mimeType"].as_str().unwrap(),
                        d["data"].as_str().unwrap()
                    );
                    user_parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
                }
            }
            if !user_parts.is_empty() {
                messages.push(json!({"role": "user", "content": user_parts}));
            }
        }
    }
    let mut params = serde_json::Map::new();
    let mut extra = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap() {
        match k.as_str() {
            "contents" | "systemInstruction" => {}
            "tools" => {
                let tools: Vec<Value> = v[0]["functionDeclarations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        // JSON Schema under any of its names: `parameters` (OpenAPI subset),
                        // `parametersJsonSchema` / `parameters_json_schema`.
                        let mut f = json!({"name": d["name"]});
                        if let Some(desc) = d.get("description") {
                            f["description"] = desc.clone();
                        }
                        if let Some(schema) = d
                            .get("parametersJsonSchema")
                            .or(d.get("parameters_json_schema"))
                            .or(d.get("parameters"))
                        {
                            f["parameters"] = schema.clone();
                        }
                        json!({"type": "function", "function": f})
                    })
                    .collect();
                params.insert("tools".into(), Value::Array(tools));
            }
            "toolConfig" => {
                let c = &v["functionCallingConfig"];
                let names = c["allowedFunctionNames"].as_array();
                let choice = match (c["mode"].as_str(), names.map(|n| n.len())) {
                    (Some("AUTO"), None) => Some(json!("auto")),
                    (Some("NONE"), None) => Some(json!("none")),
                    (Some("ANY"), None) => Some(json!("required")),
                    (Some("ANY"), Some(1)) => {
                        Some(json!({"type": "function", "function": {"name": names.unwrap()[0]}}))
                    }
                    _ => None, // e.g. several allowed names: not expressible as an OpenAI tool_choice
                };
                match choice {
                    Some(ch) => {
                        params.insert("tool_choice".into(), ch);
                    }
                    None => {
                        extra.insert(k.clone(), v.clone());
                    }
                }
            }
            "generationConfig" => {
                let g = v.as_object().unwrap();
                let modelled = [
                    "temperature",
                    "topP",
                    "maxOutputTokens",
                    "stopSequences",
                    "seed",
                ];
                if g.keys().all(|k| modelled.contains(&k.as_str())) {
                    for (gk, pk) in [
                        ("temperature", "temperature"),
                        ("topP", "top_p"),
                        ("maxOutputTokens", "max_tokens"),
                        ("stopSequences", "stop"),
                        ("seed", "seed"),
                    ] {
                        if let Some(x) = g.get(gk) {
                            params.insert(pk.into(), x.clone());
                        }
                    }
                } else {
                    extra.insert(k.clone(), v.clone());
                }
            }
            _ => {
                extra.insert(k.clone(), v.clone());
            }
        }
    }
    if !extra.is_empty() {
        params.insert("extra".into(), Value::Object(extra));
    }
    (Value::Array(messages), Value::Object(params))
}

/// Removes keys named `names` anywhere under `v`.
fn strip_keys(v: &mut Value, names: &[&str]) {
    match v {
        Value::Object(o) => {
            o.retain(|k, _| !names.contains(&k.as_str()));
            for x in o.values_mut() {
                strip_keys(x, names);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strip_keys(x, names)),
        _ => {}
    }
}

/// Anthropic accepts a string wherever a list of text blocks goes: compare in block form.
fn anthropic_blocks(v: &mut Value) {
    if let Some(s) = v.get("system").and_then(Value::as_str).map(String::from) {
        v["system"] = json!([{"type": "text", "text": s}]);
    }
    for m in v["messages"].as_array_mut().into_iter().flatten() {
        if let Some(s) = m["content"].as_str().map(String::from) {
            m["content"] = json!([{"type": "text", "text": s}]);
        }
    }
}

#[test]
fn recorded_requests_are_reproduced() {
    let mut failures = Vec::new();
    for (file, format, provider, max_tokens_field) in REQUESTS {
        let recorded = read_json(file);
        let meta_file = file.replace(".request.json", ".response_meta.json");
        let meta = if fixtures_dir().join(&meta_file).is_file() {
            read_json(&meta_file)
        } else {
            Value::Null
        };
        let uri = meta["uri"]
            .as_str()
            .or(meta["url"].as_str())
            .unwrap_or("")
            .to_string();
        let stream = recorded["stream"] == true || uri.contains("streamGenerateContent");
        let (model, messages, params) = match format {
            F::OpenAi | F::Mistral => lift_openai(&recorded, *format),
            F::Anthropic => lift_anthropic(&recorded),
            F::Gemini => {
                let model = uri
                    .split("/models/")
                    .nth(1)
                    .and_then(|r| r.split(':').next())
                    .unwrap()
                    .to_string();
                let (m, p) = lift_gemini(&recorded);
                (model, m, p)
            }
        };
        let req = Request::from_values(&format!("{provider}/{model}"), messages, params)
            .unwrap_or_else(|e| panic!("{file}: the lifted request is not a valid Request: {e}"));
        let p = match max_tokens_field {
            Some(field) => P::with_max_tokens_field(*format, provider, field),
            None => P::new(*format, provider, "http://127.0.0.1:9"),
        };
        let mut ours = p.body(&model, &req, stream);
        let mut theirs = recorded.clone();
        // Differences by design, each with its reason:
        let ours_obj = ours.as_object_mut().unwrap();
        let theirs_obj = theirs.as_object_mut().unwrap();
        if theirs_obj.get("stream") == Some(&Value::Bool(false)) {
            theirs_obj.remove("stream"); // `stream: false` is the default
        }
        if ours_obj.get("stream") == Some(&Value::Bool(false)) {
            ours_obj.remove("stream");
        }
        match format {
            F::OpenAi | F::Mistral => {
                // A modelled parameter sent as `null` is the same as not sent.
                theirs_obj.retain(|k, v| {
                    !(v.is_null() && (PARAMS.contains(&k.as_str()) || k == "max_tokens"))
                });
                // We always ask for usage on OpenAI-format streams.
                if !theirs_obj.contains_key("stream_options") {
                    ours_obj.remove("stream_options");
                }
                // Message fields OpenAI-shaped messages do not carry: Mistral `prefix`, prompt-cache
                // markers on parts, the `index` echoed inside tool calls.
                for side in [&mut ours, &mut theirs] {
                    strip_keys(
                        &mut side["messages"],
                        &[
                            "prefix",
                            "prompt_cache_breakpoint",
                            "cache_control",
                            "index",
                        ],
                    );
                    for m in side["messages"].as_array_mut().into_iter().flatten() {
                        // Reasoning parts of replayed assistant turns (Magistral) are not carried
                        // by OpenAI-shaped messages; an empty tool_calls list equals none.
                        if let Some(parts) = m.get_mut("content").and_then(Value::as_array_mut) {
                            parts.retain(|p| p["type"] != "thinking");
                        }
                        if m.get("tool_calls") == Some(&json!([])) {
                            m.as_object_mut().unwrap().remove("tool_calls");
                        }
                    }
                }
            }
            F::Anthropic => {
                // The count_tokens body (404 fixture) has no max_tokens; we always send one (required).
                if !theirs_obj.contains_key("max_tokens") {
                    ours_obj.remove("max_tokens");
                }
                for side in [&mut ours, &mut theirs] {
                    anthropic_blocks(side);
                    // Block-level cache markers and `is_error: false` (the default) are not modelled.
                    strip_keys(&mut side["messages"], &["cache_control", "is_error"]);
                    strip_keys(&mut side["system"], &["cache_control"]);
                }
            }
            F::Gemini => {
                // Our dummy signature on replayed calls (see gemini.rs), the MIME type of file
                // parts (image_url has none), and the role inside systemInstruction are not compared.
                strip_keys(&mut ours["contents"], &["thoughtSignature"]);
                strip_keys(&mut theirs["contents"], &["mimeType"]);
                strip_keys(&mut ours["contents"], &["mimeType"]);
                if let Some(si) = theirs
                    .get_mut("systemInstruction")
                    .and_then(Value::as_object_mut)
                {
                    si.remove("role");
                }
                // The schema key: we send `parametersJsonSchema`; recordings use that name in
                // snake_case or the older `parameters`. Same schema, so compare under one name.
                for side in [&mut ours, &mut theirs] {
                    let decls = side
                        .get_mut("tools")
                        .and_then(|t| t.get_mut(0))
                        .and_then(|t| t.get_mut("functionDeclarations"));
                    for d in decls.and_then(Value::as_array_mut).into_iter().flatten() {
                        let o = d.as_object_mut().unwrap();
                        for k in ["parameters", "parameters_json_schema"] {
                            if let Some(v) = o.remove(k) {
                                o.insert("parametersJsonSchema".into(), v);
                            }
                        }
                    }
                }
                if theirs.get("generationConfig") == Some(&json!({})) {
                    theirs.as_object_mut().unwrap().remove("generationConfig");
                }
                // Gemini takes the model from the URL, not the body.
            }
        }
        if ours != theirs {
            let mut diffs = Vec::new();
            json_diff(&ours, &theirs, "$".into(), &mut diffs);
            failures.push(format!("{file}: {}", diffs.join("; ")));
        }
        if false {
            failures.push(format!(
                "{file}:\n  ours:   {}\n  theirs: {}",
                serde_json::to_string(&ours)
                    .unwrap()
                    .chars()
                    .take(1500)
                    .collect::<String>(),
                serde_json::to_string(&theirs)
                    .unwrap()
                    .chars()
                    .take(1500)
                    .collect::<String>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} recorded requests differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn json_diff(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()).collect::<BTreeSet<_>>() {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => json_diff(p, q, format!("{path}.{k}"), out),
                    (p, q) => out.push(format!(
                        "{path}.{k}: ours {} / recorded {}",
                        short(p),
                        short(q)
                    )),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                json_diff(p, q, format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!(
            "{path}: ours {} / recorded {}",
            short(Some(a)),
            short(Some(b))
        )),
        _ => {}
    }
}

fn short(v: Option<&Value>) -> String {
    v.map(|v| v.to_string().chars().take(200).collect())
        .unwrap_or_else(|| "(absent)".into())
}
