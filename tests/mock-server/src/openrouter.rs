//! The OpenRouter flavour of the Chat Completions endpoint (`format=openrouter`,
//! `x-mock-format: openrouter`, `--format openrouter`, or the path `/api/v1/chat/completions`),
//! after the recordings in tests/fixtures/providers/openrouter/: `: OPENROUTER PROCESSING`
//! comment lines before the first chunk, `provider` and `native_finish_reason` fields, `usage.cost`
//! (+ `cost_details`, `is_byok`), `gen-…` ids, and `{"error":{"code":<int>,"message",…}}` errors
//! (402 when out of credits; mid-stream errors as a chunk with a top-level `error`). Request
//! handling, timing and faults are shared with `openai.rs`.

use serde_json::json;

use crate::answer::{self, Tokens};
use crate::json::{null, raw, Obj, Raw};
use crate::openai::{frame, Answer, DONE};
use crate::play::StreamPlan;
use crate::script::{ErrorKind, Script};

/// The keep-alive comment OpenRouter sends while it waits for the upstream provider (also what
/// `keepalive_ms` sends).
pub const PROCESSING: &[u8] = b": OPENROUTER PROCESSING\n\n";

/// How many processing comments precede the first chunk.
const PROCESSING_COMMENTS: usize = 2;

/// `{"error":{"code":<status>,"message":…}}`.
pub(crate) fn error_object(status: u16, message: &str) -> Vec<u8> {
    Obj::new()
        .f(
            "error",
            Obj::new().f("code", status).f("message", message).raw(),
        )
        .bytes()
}

fn error_with_metadata(status: u16, message: &str, metadata: Raw) -> Vec<u8> {
    Obj::new()
        .f(
            "error",
            Obj::new()
                .f("code", status)
                .f("message", message)
                .f("metadata", metadata)
                .raw(),
        )
        .bytes()
}

/// The body of a scripted error, its message replaced by `error_message`.
pub(crate) fn error_body(kind: ErrorKind, status: u16, model: &str, script: &Script) -> Vec<u8> {
    let provider = provider_of(model);
    let text = |default: &str| script.error_text(default).to_owned();
    match kind {
        // Not recorded; the public API's wording for a billing failure (NOT retryable).
        ErrorKind::InsufficientCredits | ErrorKind::InsufficientQuota | ErrorKind::Other(402) => error_object(
            status,
            &text("Insufficient credits. Add more using https://openrouter.ai/settings/credits"),
        ),
        // pai_error_429_provider_returned_error.response.json.
        ErrorKind::RateLimit => Obj::new()
            .f(
                "error",
                Obj::new()
                    .f("code", status)
                    .f("message", text("Provider returned error"))
                    .f(
                        "metadata",
                        json!({
                            "provider_name": provider,
                            "raw": format!("{model} is temporarily rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations"),
                        }),
                    )
                    .raw(),
            )
            .f("user_id", "user_2mockMockMockMockMockMock")
            .bytes(),
        ErrorKind::InvalidApiKey => error_object(status, &text("User not found.")),
        ErrorKind::ModelNotFound => error_object(status, &text(&format!("No endpoints found for {model}."))),
        ErrorKind::ContextLengthExceeded => error_object(
            status,
            &text("This endpoint's maximum context length is 128000 tokens. However, you requested about 130000 tokens (130000 of text input). Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically."),
        ),
        ErrorKind::ContentFilter | ErrorKind::PermissionDenied => error_with_metadata(
            status,
            &text(&format!("{model} requires moderation on {provider}. Your input was flagged for \"violence\".")),
            raw(json!({"reasons": ["violence"], "flagged_input": "…", "provider_name": provider, "model_slug": model})
            ),
        ),
        ErrorKind::BadGateway | ErrorKind::Overloaded => error_with_metadata(
            status,
            &text("Provider returned error"),
            raw(json!({"provider_name": provider, "raw": "upstream overloaded"})
            ),
        ),
        ErrorKind::ServerError => error_object(status, &text("Internal Server Error")),
        ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge | ErrorKind::Other(_) => {
            error_object(
                status,
                &text(&format!("polyfuse-mock-server: scripted HTTP {status} for {model}")),
            )
        }
    }
}

/// The routed provider's display name, from the `vendor/` prefix of the model.
fn provider_of(model: &str) -> &'static str {
    match model.split('/').next().unwrap_or("") {
        "anthropic" => "Anthropic",
        "google" => "Google",
        "mistralai" => "Mistral",
        "x-ai" => "xAI",
        "meta-llama" => "Together",
        "deepseek" => "DeepSeek",
        "qwen" => "Alibaba",
        _ => "OpenAI",
    }
}

/// `usage` with `cost`: `cost=X` as given, else $1/M prompt + $2/M completion tokens.
fn usage(tokens: Tokens, script: &Script) -> Raw {
    let prompt_cost = tokens.prompt as f64 * 1e-6;
    let completion_cost = tokens.completion as f64 * 2e-6;
    let (cost, prompt_cost, completion_cost) = match script.cost {
        Some(cost) => {
            let share = if tokens.total() == 0 {
                0.0
            } else {
                tokens.prompt as f64 / tokens.total() as f64
            };
            (cost, cost * share, cost * (1.0 - share))
        }
        None => (prompt_cost + completion_cost, prompt_cost, completion_cost),
    };
    Obj::new()
        .f("prompt_tokens", tokens.prompt)
        .f("completion_tokens", tokens.completion)
        .f("total_tokens", tokens.total())
        .f("cost", cost)
        .f("is_byok", false)
        .f(
            "prompt_tokens_details",
            Obj::new()
                .f("cached_tokens", tokens.cached)
                .opt(
                    "cache_write_tokens",
                    (tokens.cache_write > 0).then_some(tokens.cache_write),
                )
                .f("audio_tokens", 0)
                .raw(),
        )
        .f(
            "cost_details",
            Obj::new()
                .f("upstream_inference_cost", null())
                .f("upstream_inference_prompt_cost", prompt_cost)
                .f("upstream_inference_completions_cost", completion_cost)
                .raw(),
        )
        .f(
            "completion_tokens_details",
            Obj::new()
                .f("reasoning_tokens", tokens.reasoning)
                .f("image_tokens", 0)
                .raw(),
        )
        .raw()
}

fn full_tool_calls(answer: &Answer<'_>) -> Option<Vec<Raw>> {
    answer.calls.as_ref().map(|calls| {
        calls
            .iter()
            .enumerate()
            .map(|(index, c)| {
                Obj::new()
                    .f("index", index)
                    .f("id", &c.id)
                    .f("type", "function")
                    .f(
                        "function",
                        Obj::new()
                            .f("name", &c.name)
                            .f("arguments", &c.arguments)
                            .raw(),
                    )
                    .raw()
            })
            .collect()
    })
}

/// The non-stream body (pai_nonstream_usage_cost / pai_nonstream_anthropic_cache_read).
pub(crate) fn completion(answer: &Answer<'_>, script: &Script) -> Vec<u8> {
    let calls = full_tool_calls(answer);
    let message = Obj::new()
        .f("role", "assistant")
        .f(
            "content",
            (calls.is_none() && !answer.refusal).then_some(&answer.text),
        )
        .f("refusal", answer.refusal.then_some(&answer.text))
        .f("reasoning", null())
        .opt("tool_calls", calls)
        .raw();
    Obj::new()
        .f("id", &answer.id)
        .f("provider", provider_of(answer.model))
        .f("model", answer.model)
        .f("object", "chat.completion")
        .f("created", answer.created)
        .f(
            "choices",
            [Obj::new()
                .f("logprobs", null())
                .f("finish_reason", &answer.finish_reason)
                .f("native_finish_reason", &answer.finish_reason)
                .f("index", 0)
                .f("message", message)
                .raw()],
        )
        .f("system_fingerprint", null())
        .opt("usage", answer.usage.then(|| usage(answer.tokens, script)))
        .bytes()
}

/// The stream, after pai_stream_text_grok: processing comments, then chunks whose deltas all carry
/// `role`, each choice with `native_finish_reason`; the finish chunk; with `include_usage` (or
/// `usage.include`) a usage chunk whose `choices` is NOT empty; `[DONE]`. `error_after` sends a
/// chunk with a top-level `error` (pai_stream_midstream_error), then `[DONE]`.
pub(crate) fn stream(answer: &Answer<'_>, script: &Script) -> StreamPlan {
    let provider = provider_of(answer.model);
    let chunk = |delta: Raw, finish: Option<&str>, extra: Option<(&str, Raw)>| -> Vec<u8> {
        let choice = Obj::new()
            .f("index", 0)
            .f("delta", delta)
            .f("finish_reason", finish)
            .f("native_finish_reason", finish)
            .f("logprobs", null())
            .raw();
        let mut body = Obj::new().f("id", &answer.id).f("provider", provider);
        if let Some(("error", e)) = &extra {
            body = body.f("error", e);
        }
        body = body
            .f("model", answer.model)
            .f("object", "chat.completion.chunk")
            .f("created", answer.created)
            .f("choices", [choice]);
        if let Some(("usage", u)) = &extra {
            body = body.f("usage", u);
        }
        frame(&body.bytes())
    };
    let delta = |content: Option<&str>| {
        Obj::new()
            .f("role", "assistant")
            .f("content", content)
            .raw()
    };
    let mut plan = StreamPlan {
        done: Some(DONE.to_vec()),
        malformed: b"data: {\"id\": broken-json\n\n".to_vec(),
        error: vec![chunk(
            delta(Some("")),
            None,
            Some((
                "error",
                Obj::new()
                    .f("code", 502)
                    .f(
                        "message",
                        script.error_text("Provider disconnected unexpectedly"),
                    )
                    .raw(),
            )),
        )],
        keepalive: PROCESSING.to_vec(),
        ..StreamPlan::default()
    };
    plan.head = vec![PROCESSING.to_vec(); PROCESSING_COMMENTS];
    match &answer.calls {
        // Not recorded: a refusal as OpenAI streams it (`content:null,refusal:""`, then `refusal`
        // pieces), with the `role` every OpenRouter delta carries.
        None if answer.refusal => {
            let refusal = |piece: &str| {
                Obj::new()
                    .f("role", "assistant")
                    .f("content", null())
                    .f("refusal", piece)
                    .raw()
            };
            plan.head.push(chunk(refusal(""), None, None));
            for piece in answer::split_text(&answer.text, script.chunks) {
                plan.content.push(chunk(refusal(&piece), None, None));
            }
        }
        None => {
            plan.head.push(chunk(delta(Some("")), None, None));
            for piece in answer::split_text(&answer.text, script.chunks) {
                plan.content.push(chunk(delta(Some(&piece)), None, None));
            }
        }
        Some(calls) => {
            plan.head.push(chunk(delta(Some("")), None, None));
            for (index, call) in calls.iter().enumerate() {
                let opening = Obj::new()
                    .f("index", index)
                    .f("id", &call.id)
                    .f("type", "function")
                    .f(
                        "function",
                        Obj::new().f("name", &call.name).f("arguments", "").raw(),
                    )
                    .raw();
                let d = Obj::new()
                    .f("role", "assistant")
                    .f("content", null())
                    .f("tool_calls", [opening])
                    .raw();
                plan.content.push(chunk(d, None, None));
                for fragment in answer::split_fragments(&call.arguments, script.chunks) {
                    let frag = Obj::new()
                        .f("index", index)
                        .f("function", Obj::new().f("arguments", fragment).raw())
                        .raw();
                    let d = Obj::new()
                        .f("role", "assistant")
                        .f("content", null())
                        .f("tool_calls", [frag])
                        .raw();
                    plan.content.push(chunk(d, None, None));
                }
            }
        }
    }
    plan.tail
        .push(chunk(delta(Some("")), Some(&answer.finish_reason), None));
    if answer.include_usage {
        plan.tail.push(chunk(
            delta(Some("")),
            None,
            Some(("usage", usage(answer.tokens, script))),
        ));
    }
    plan
}

/// Response headers (pai_stream_text_grok.response_meta.json keeps few).
pub(crate) fn headers(content_type: &str) -> Vec<(String, String)> {
    let content_type = if content_type.starts_with("text/event-stream") {
        "text/event-stream"
    } else {
        content_type
    };
    [
        ("content-type", content_type),
        ("access-control-allow-origin", "*"),
        ("cache-control", "no-cache"),
        ("server", "polyfuse-mock-server"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect()
}
