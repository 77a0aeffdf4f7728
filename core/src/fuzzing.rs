//! Entry points for the fuzz targets (`fuzz/`) and their smoke test (`core/tests/fuzz_smoke.rs`):
//! each feeds arbitrary bytes through the real code that reads what a provider or a user sends
//! (the SSE reader, each wire format's response and stream parsers, the error classifier, the
//! config loader). They return nothing: a fuzz run fails only on a panic, an abort, a hang or
//! unbounded memory. Not part of the API.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use futures_util::Stream;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::Policy;
use crate::config::{Config, ProviderConfig, Secret};
use crate::providers::anthropic::AnthropicProvider;
use crate::providers::gemini::GeminiProvider;
use crate::providers::http::{build_http_client, http_error, HttpFailure, ReadError, Scope};
use crate::providers::mistral::MistralProvider;
use crate::providers::openai::OpenAiProvider;
use crate::providers::sse::SseDecoder;
use crate::providers::{anthropic, gemini, mistral, openai, HttpWire, ProviderStream};

/// The wire formats, in the order a fuzz input's first byte selects them.
#[derive(Clone, Copy, Debug)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
    Mistral,
}

impl Wire {
    /// Every wire format.
    pub const ALL: [Wire; 4] = [Wire::OpenAi, Wire::Anthropic, Wire::Gemini, Wire::Mistral];

    /// The format a selector byte picks.
    pub fn from_byte(b: u8) -> Wire {
        Self::ALL[usize::from(b) % Self::ALL.len()]
    }
}

/// Splits `data` into chunks whose sizes come from `data` itself (so the fuzzer explores how a
/// body is cut into network reads): the first byte is the chunk size seed.
fn chunks(data: &[u8]) -> Vec<bytes::Bytes> {
    let Some((&seed, rest)) = data.split_first() else {
        return Vec::new();
    };
    let size = usize::from(seed % 64) + 1;
    rest.chunks(size)
        .map(bytes::Bytes::copy_from_slice)
        .collect()
}

/// The SSE reader, with a small limit so overflow is reached too.
pub fn sse(data: &[u8]) {
    let mut dec = SseDecoder::with_limit(4096);
    let mut out = Vec::new();
    for c in chunks(data) {
        dec.feed(&c, &mut out);
        out.clear();
    }
    dec.finish(&mut out);
}

const KEY: &str = "sk-fuzz-key-0123456789";

fn provider_config() -> ProviderConfig {
    ProviderConfig {
        base_url: Some("http://127.0.0.1:9/v1".into()),
        api_key: Some(Secret::new(KEY)),
        ..ProviderConfig::default()
    }
}

/// A provider of each format, built once per process.
struct Providers {
    openai: OpenAiProvider,
    anthropic: AnthropicProvider,
    gemini: GeminiProvider,
    mistral: MistralProvider,
}

fn providers() -> Option<&'static Providers> {
    static P: std::sync::OnceLock<Option<Providers>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let pc = provider_config();
        let http = build_http_client(&Policy::default()).ok()?;
        Some(Providers {
            openai: OpenAiProvider::new("openai", &pc, http.clone()).ok()?,
            anthropic: AnthropicProvider::new("anthropic", &pc, http.clone()).ok()?,
            gemini: GeminiProvider::new("gemini", &pc, http.clone()).ok()?,
            mistral: MistralProvider::new("mistral", &pc, http).ok()?,
        })
    })
    .as_ref()
}

/// Drains a stream whose body is all in memory (it never waits on I/O).
fn drain(stream: ProviderStream) {
    let mut stream = pin!(stream);
    let mut cx = Context::from_waker(Waker::noop());
    // Each poll consumes input or ends the stream; the bound only guards against a bug.
    for _ in 0..1_000_000 {
        match stream.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(_)) => {}
            Poll::Ready(None) | Poll::Pending => return,
        }
    }
}

/// One wire format's stream parser over an SSE body (`data[0]` picks the format).
pub fn stream(data: &[u8]) {
    let (Some((&wire, rest)), Some(p)) = (data.split_first(), providers()) else {
        return;
    };
    let body = chunks(rest);
    let s = match Wire::from_byte(wire) {
        Wire::OpenAi => p.openai.replay_sse("m", body),
        Wire::Anthropic => p.anthropic.replay_sse("m", body),
        Wire::Gemini => p.gemini.replay_sse("m", body),
        Wire::Mistral => p.mistral.replay_sse("m", body),
    };
    drain(s);
}

/// One wire format's non-streaming response parser (`data[0]` picks the format and whether
/// the raw body is kept).
pub fn response(data: &[u8]) {
    let (Some((&sel, body)), Some(p)) = (data.split_first(), providers()) else {
        return;
    };
    let raw = sel & 0x80 != 0;
    let _ = match Wire::from_byte(sel) {
        Wire::OpenAi => p.openai.parse(body, "m", raw),
        Wire::Anthropic => p.anthropic.parse(body, "m", raw),
        Wire::Gemini => p.gemini.parse(body, "m", raw),
        Wire::Mistral => p.mistral.parse(body, "m", raw),
    };
}

/// The error classifier: `data[0]` picks the format, `data[1..3]` the status; then header lines
/// (`name: value`, up to an empty line) and the body. Checks that the key never comes out.
pub fn error(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let read: ReadError = match Wire::from_byte(data[0]) {
        Wire::OpenAi => openai::read_error,
        Wire::Anthropic => anthropic::read_error,
        Wire::Gemini => gemini::read_error,
        Wire::Mistral => mistral::read_error,
    };
    let status = u16::from_be_bytes([data[1], data[2]]);
    let rest = &data[3..];
    let split = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(rest.len());
    let mut headers = HeaderMap::new();
    for line in rest[..split].split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) {
            headers.append(n, v);
        }
    }
    let body = rest.get(split + 2..).unwrap_or_default().to_vec();
    let scope = Scope::new("p", &provider_config());
    let e = http_error(
        &scope,
        &HttpFailure {
            status,
            headers,
            body,
        },
        "m",
        read,
    );
    let shown = format!(
        "{} {:?} {:?} {:?}",
        e.message, e.provider_code, e.request_id, e.attempts
    );
    assert!(!shown.contains(KEY), "the key leaked into an error");
}

/// The config loader (`data[0]` picks JSON or TOML), then building a client from it.
pub fn config(data: &[u8]) {
    let Some((&sel, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let format = if sel & 1 == 0 { "json" } else { "toml" };
    if let Ok(mut config) = Config::from_str(text, format) {
        // A fuzzed document never opens a file (the ledger) or reads providers from the env.
        config.usage.ledger = None;
        config.env_providers = false;
        let _ = crate::call::Client::new(config, Vec::new());
    }
}

/// A fuzz target: arbitrary bytes in, nothing out.
pub type Target = fn(&[u8]);

/// Every target, by name (for the smoke test and the fuzz crate's runner).
pub const TARGETS: [(&str, Target); 5] = [
    ("sse", sse),
    ("stream", stream),
    ("response", response),
    ("error", error),
    ("config", config),
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// The wire format a fixture was recorded from (its folder).
fn wire_of(p: &Path) -> u8 {
    let s = p.to_string_lossy();
    if s.contains("/anthropic/") {
        1
    } else if s.contains("/gemini/") {
        2
    } else if s.contains("/mistral/") {
        3
    } else {
        0
    }
}

/// The seeds of each target, from the recorded fixtures in `dir` (`tests/fixtures/providers`)
/// plus two config documents: (target name, input) pairs, each input already prefixed with the
/// selector bytes its target reads.
pub fn seeds(dir: &Path) -> std::io::Result<Vec<(&'static str, Vec<u8>)>> {
    let mut all = Vec::new();
    files(dir, &mut all)?;
    all.sort();
    let mut seeds = Vec::new();
    for p in &all {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let body = std::fs::read(p)?;
        let wire = wire_of(p);
        if name.ends_with(".sse") {
            seeds.push(("sse", [&[7u8][..], &body].concat()));
            seeds.push(("stream", [&[wire, 13][..], &body].concat()));
        } else if name.ends_with(".response.json") {
            if name.contains("error") {
                for status in [400u16, 429, 500] {
                    let head = [
                        &[wire][..],
                        &status.to_be_bytes(),
                        b"retry-after: 2\nx-request-id: req_1\n\n",
                    ]
                    .concat();
                    seeds.push(("error", [&head[..], &body].concat()));
                }
            } else {
                seeds.push(("response", [&[wire | 0x80][..], &body].concat()));
            }
        }
    }
    for (format, text) in [
        (0u8, r#"{"providers":{"local":{"format":"openai","base_url":"http://127.0.0.1:1/v1","api_key":"k"}},"routes":{"main":{"targets":["local/m",{"model":"mock/echo","weight":2}],"strategy":"fallback"}},"policy":{"total_timeout_ms":1000,"limits":{"max_response_bytes":1000}},"fusions":{"f":{"pool":["mock/echo","mock/echo"],"judge":"mock/echo","mode":"vote"}}}"#),
        (1u8, "[providers.local]\nformat = \"anthropic\"\nbase_url = \"http://127.0.0.1:1\"\napi_key = \"${NOPE:-x}\"\n[policy]\nmax_attempts_per_target = 2\n[budgets.day]\nlimit_usd = 1.5\nwindow = \"1d\"\n"),
    ] {
        seeds.push(("config", [&[format][..], text.as_bytes()].concat()));
    }
    Ok(seeds)
}

/// Deterministic mutations of a seed (bit flips, truncations, duplications, splices), for a
/// smoke run without a coverage-guided fuzzer: `n` variants from a xorshift generator.
pub fn mutations(seed: &[u8], n: usize, mut state: u64) -> VecDeque<Vec<u8>> {
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = VecDeque::with_capacity(n);
    for _ in 0..n {
        let mut v = seed.to_vec();
        for _ in 0..=(next() % 4) {
            let len = v.len().max(1);
            let at = (next() as usize) % len;
            match next() % 5 {
                0 if !v.is_empty() => v[at] ^= 1 << (next() % 8),
                1 => v.truncate(at),
                2 if !v.is_empty() => {
                    let end = (at + (next() as usize % 64)).min(v.len());
                    let piece = v[at..end].to_vec();
                    v.splice(at..at, piece);
                }
                3 => v.insert(
                    at.min(v.len()),
                    [b'{', b'"', b'[', b'\n', 0xff][next() as usize % 5],
                ),
                _ if !v.is_empty() => {
                    v[at] = next() as u8;
                }
                _ => {}
            }
        }
        out.push_back(v);
    }
    out
}
