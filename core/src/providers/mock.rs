//! The built-in in-process `mock` provider: `mock/<name>` models with deterministic answers and
//! scripted latency, time to first token, chunking, token counts, tool calls and failures. No
//! network. It backs the README demo and users' own tests.
//!
//! Answers: `mock/echo` repeats the last user message; any other name answers
//! `"This is mock/<name> answering: <last user message>"`, unless `text` is configured.
//! Tokens: input = words over all messages + 3 per message; output = words of the answer.
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{Accumulator, Completion, Provider, ProviderEvent, ProviderStream};
use crate::types::error::{Error, ErrorKind, Result};
use crate::types::message::Role;
use crate::types::request::Request;
use crate::types::response::FinishReason;
use crate::usage::{Usage, UsageSource};

/// Scripted behaviour of one mock model (`mock.models.<name>` in the config).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MockModelConfig {
    /// Fixed answer text.
    pub text: Option<String>,
    /// Delay before the provider answers (before the first chunk of a stream).
    pub latency_ms: u64,
    /// Extra delay before the first token.
    pub ttft_ms: u64,
    /// Number of chunks the answer is streamed in (default: one per word).
    pub chunks: Option<usize>,
    /// Delay between chunks.
    pub chunk_delay_ms: u64,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    /// Answer with these tool calls instead of text.
    pub tool_calls: Vec<MockToolCall>,
    pub finish_reason: Option<String>,
    pub fail: Option<MockFailure>,
}

/// A scripted tool call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockToolCall {
    pub name: String,
    /// Arguments as a JSON value.
    #[serde(default)]
    pub arguments: serde_json::Value,
}

/// A scripted failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockFailure {
    pub kind: ErrorKind,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// Fail only the first `times` calls to this model (default: every call).
    #[serde(default)]
    pub times: Option<u64>,
    /// Streams only: fail after this many chunks were sent.
    #[serde(default)]
    pub after_chunks: Option<usize>,
}

/// The in-process mock provider.
pub struct MockProvider {
    name: String,
    models: BTreeMap<String, MockModelConfig>,
    calls: Mutex<HashMap<String, u64>>,
}

struct Plan {
    cfg: MockModelConfig,
    pieces: Vec<String>,
    completion: Completion,
    /// Failure for this call, and after how many chunks (0 = before anything).
    failure: Option<(Error, usize)>,
}

impl MockProvider {
    pub fn new(name: &str, models: BTreeMap<String, MockModelConfig>) -> Self {
        MockProvider {
            name: name.to_string(),
            models,
            calls: Mutex::new(HashMap::new()),
        }
    }

    fn plan(&self, model: &str, req: &Request) -> Plan {
        let cfg = self.models.get(model).cloned().unwrap_or_default();
        let call_no = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            let n = calls.entry(model.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        let last_user = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.text())
            .unwrap_or_default();
        let text = match &cfg.text {
            Some(t) => t.clone(),
            None if model == "echo" => last_user,
            None => format!("This is {}/{model} answering: {last_user}", self.name),
        };
        let mut acc = Accumulator::default();
        let mut pieces = Vec::new();
        if cfg.tool_calls.is_empty() {
            pieces = split_chunks(&text, cfg.chunks);
            acc.text = text.clone();
        } else {
            for (i, tc) in cfg.tool_calls.iter().enumerate() {
                let args = if tc.arguments.is_null() {
                    "{}".to_string()
                } else {
                    tc.arguments.to_string()
                };
                acc.tool_call_delta(
                    i as u32,
                    Some(format!("call_mock{i}")),
                    Some(tc.name.clone()),
                    args,
                );
            }
        }
        let words = |s: &str| s.split_whitespace().count() as u64;
        let input = req
            .messages
            .iter()
            .map(|m| words(&m.text()) + 3)
            .sum::<u64>();
        let output = if cfg.tool_calls.is_empty() {
            words(&text)
        } else {
            acc.tool_calls
                .values()
                .map(|t| (t.function.arguments.len() as u64).div_ceil(4).max(1))
                .sum()
        };
        acc.usage = Some(Usage {
            input_tokens: cfg.input_tokens.unwrap_or(input),
            output_tokens: cfg.output_tokens.unwrap_or(output),
            cached_input_tokens: cfg.cached_input_tokens.unwrap_or(0),
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: cfg.reasoning_tokens.unwrap_or(0),
            cost_usd: None,
            source: UsageSource::Reported,
        });
        acc.finish_reason = cfg.finish_reason.as_deref().map(FinishReason::from_openai);
        acc.response_id = Some(format!("mock-{model}-{call_no}"));
        acc.provider_model = Some(model.to_string());
        let failure = cfg.fail.as_ref().and_then(|f| {
            if f.times.is_some_and(|t| call_no > t) {
                return None;
            }
            let msg = f
                .message
                .clone()
                .unwrap_or_else(|| format!("mock/{model} failed as scripted ({})", f.kind));
            let mut e = Error::new(f.kind, msg)
                .with_provider(&self.name)
                .with_model(format!("{}/{model}", self.name))
                .with_retry_after(f.retry_after_ms.map(Duration::from_millis));
            e.status = f.status;
            Some((e, f.after_chunks.unwrap_or(0)))
        });
        Plan {
            cfg,
            pieces,
            completion: acc.finish(),
            failure,
        }
    }
}

/// Splits text into `n` chunks on word boundaries (spaces kept), or one chunk per word.
fn split_chunks(text: &str, n: Option<usize>) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for (i, w) in text.split(' ').enumerate() {
        words.push(if i == 0 {
            w.to_string()
        } else {
            format!(" {w}")
        });
    }
    words.retain(|w| !w.is_empty());
    match n {
        Some(n) if n > 0 && n < words.len() => {
            let per = words.len().div_ceil(n);
            words.chunks(per).map(|c| c.concat()).collect()
        }
        _ => words,
    }
}

async fn sleep_ms(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

impl Provider for MockProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_free(&self) -> bool {
        true
    }

    fn complete<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<Completion>> {
        Box::pin(async move {
            let plan = self.plan(model, req);
            sleep_ms(plan.cfg.latency_ms + plan.cfg.ttft_ms).await;
            if let Some((e, _)) = plan.failure {
                return Err(e);
            }
            let gaps = plan.pieces.len().saturating_sub(1) as u64;
            sleep_ms(plan.cfg.chunk_delay_ms * gaps).await;
            Ok(plan.completion)
        })
    }

    fn stream<'a>(
        &'a self,
        model: &'a str,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<ProviderStream>> {
        Box::pin(async move {
            let plan = self.plan(model, req);
            sleep_ms(plan.cfg.latency_ms).await;
            if let Some((e, 0)) = &plan.failure {
                return Err(e.clone());
            }
            let stream = async_stream::stream! {
                let Plan { cfg, pieces, completion, failure } = plan;
                sleep_ms(cfg.ttft_ms).await;
                for (sent, piece) in pieces.into_iter().enumerate() {
                    if sent > 0 { sleep_ms(cfg.chunk_delay_ms).await; }
                    if let Some((e, after)) = &failure {
                        if sent >= *after { yield Err(e.clone()); return; }
                    }
                    yield Ok(ProviderEvent::TextDelta(piece));
                }
                for (i, tc) in completion.message.tool_calls.iter().enumerate() {
                    yield Ok(ProviderEvent::ToolCallDelta {
                        index: i as u32,
                        id: Some(tc.id.clone()),
                        name: Some(tc.function.name.clone()),
                        arguments: tc.function.arguments.clone(),
                    });
                }
                if let Some((e, _)) = failure {
                    yield Err(e);
                    return;
                }
                yield Ok(ProviderEvent::Done(Box::new(completion)));
            };
            Ok(Box::pin(stream) as ProviderStream)
        })
    }
}
