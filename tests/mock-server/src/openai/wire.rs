//! The OpenAI Chat Completions response bytes: the non-stream body and the stream chunks (the
//! [`StreamPlan`] of a text or tool-call answer), with their serde wire types in the real API's
//! field order. Request handling is in `openai.rs`, error bodies in `errors.rs`.

use serde::{Serialize, Serializer};

use super::{errors::ErrorObject, Answer, SYSTEM_FINGERPRINT};
use crate::answer::{self, Ids, Tokens};
use crate::play::StreamPlan;
use crate::script::Script;

pub(super) fn completion_body(answer: &Answer<'_>) -> Vec<u8> {
    let tool_calls: Option<Vec<ToolCall>> = answer.calls.as_ref().map(|calls| {
        calls
            .iter()
            .map(|c| ToolCall {
                id: c.id.clone(),
                kind: "function",
                function: Function {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                },
            })
            .collect()
    });
    let body = ChatCompletion {
        id: &answer.id,
        object: "chat.completion",
        created: answer.created,
        model: answer.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: (tool_calls.is_none() && !answer.refusal).then_some(answer.text.as_str()),
                tool_calls: tool_calls.as_deref(),
                refusal: answer.refusal.then_some(answer.text.as_str()),
                annotations: [],
            },
            logprobs: None,
            finish_reason: &answer.finish_reason,
        }],
        usage: answer.usage.then(|| Usage::new(answer.tokens)),
        service_tier: "default",
        system_fingerprint: SYSTEM_FINGERPRINT,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

pub(super) fn stream_plan(
    answer: &Answer<'_>,
    script: &Script,
    obfuscation: bool,
    ids: Ids,
) -> StreamPlan {
    let chunks = Chunks {
        id: &answer.id,
        created: answer.created,
        model: answer.model,
        include_usage: answer.include_usage,
        obfuscation,
        ids: std::cell::RefCell::new(ids),
    };
    let mut plan = StreamPlan {
        done: Some(DONE.to_vec()),
        malformed: b"data: {\"id\": broken-json\n\n".to_vec(),
        error: vec![frame(&ErrorObject::mid_stream(script).to_body())],
        keepalive: KEEPALIVE.to_vec(),
        ..StreamPlan::default()
    };
    match &answer.calls {
        None => {
            // A refusal (openaipy_stream_refusal.sse) opens with `content:null,refusal:""` and
            // its text comes in `refusal` deltas.
            let (content, refusal) = match answer.refusal {
                true => (Field::Null, Field::Value("")),
                false => (Field::Value(""), Field::Null),
            };
            plan.head.push(chunks.delta(Delta {
                role: Some("assistant"),
                content,
                refusal,
                ..Delta::default()
            }));
            for piece in answer::split_text(&answer.text, script.chunks) {
                let piece = Field::Value(piece.as_str());
                plan.content.push(chunks.delta(match answer.refusal {
                    true => Delta {
                        refusal: piece,
                        ..Delta::default()
                    },
                    false => Delta {
                        content: piece,
                        ..Delta::default()
                    },
                }));
            }
        }
        Some(calls) => {
            // As recorded: a single call carries the role in its first delta; parallel calls get a
            // role-only chunk first.
            let single = calls.len() == 1;
            if !single {
                plan.head.push(chunks.delta(Delta {
                    role: Some("assistant"),
                    content: Field::Null,
                    ..Delta::default()
                }));
            }
            for (index, call) in calls.iter().enumerate() {
                let opening = ToolCallDelta {
                    index,
                    id: Some(&call.id),
                    kind: Some("function"),
                    function: FunctionDelta {
                        name: Some(&call.name),
                        arguments: "",
                    },
                };
                plan.content.push(chunks.delta(if single {
                    Delta {
                        role: Some("assistant"),
                        content: Field::Null,
                        tool_calls: Some(vec![opening]),
                        refusal: Field::Null,
                    }
                } else {
                    Delta {
                        tool_calls: Some(vec![opening]),
                        ..Delta::default()
                    }
                }));
                for fragment in answer::split_fragments(&call.arguments, script.chunks) {
                    plan.content.push(chunks.delta(Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index,
                            id: None,
                            kind: None,
                            function: FunctionDelta {
                                name: None,
                                arguments: &fragment,
                            },
                        }]),
                        ..Delta::default()
                    }));
                }
            }
        }
    }
    plan.tail.push(chunks.event(
        vec![ChunkChoice {
            index: 0,
            delta: Delta::default(),
            logprobs: None,
            finish_reason: Some(&answer.finish_reason),
        }],
        None,
    ));
    if answer.include_usage {
        plan.tail
            .push(chunks.event(Vec::new(), Some(Usage::new(answer.tokens))));
    }
    plan
}

/// `data: [DONE]\n\n`.
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

// ---- wire types (field order = the real API's) ----

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<&'a [ToolCall]>,
    refusal: Option<&'a str>,
    annotations: [(); 0],
}

#[derive(Serialize, Clone)]
struct ToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function,
}

#[derive(Serialize, Clone)]
struct Function {
    name: String,
    arguments: String,
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptTokensDetails,
    completion_tokens_details: CompletionTokensDetails,
}

#[derive(Serialize, Clone, Copy)]
struct PromptTokensDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize, Clone, Copy)]
struct CompletionTokensDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

impl Usage {
    /// The neutral counts in OpenAI's shape: cached tokens are a subset of the prompt and
    /// reasoning tokens a subset of the completion, as in the real API.
    fn new(tokens: Tokens) -> Usage {
        Usage {
            prompt_tokens: tokens.prompt,
            completion_tokens: tokens.completion,
            total_tokens: tokens.total(),
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: tokens.cached,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionTokensDetails {
                reasoning_tokens: tokens.reasoning,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

/// A JSON field that can be absent, `null`, or a value.
#[derive(Clone, Copy, Default)]
enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Field<T> {
    fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(v) => v.serialize(s),
            Field::Absent | Field::Null => s.serialize_none(),
        }
    }
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    service_tier: &'static str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    usage: Field<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    obfuscation: Option<String>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    content: Field<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCallDelta<'a>>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    refusal: Field<&'a str>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// Builds the framed chunk events of one stream.
struct Chunks<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
    include_usage: bool,
    obfuscation: bool,
    ids: std::cell::RefCell<Ids>,
}

impl Chunks<'_> {
    fn delta(&self, delta: Delta<'_>) -> Vec<u8> {
        self.event(
            vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: None,
            }],
            None,
        )
    }

    /// With `stream_options.include_usage`, every chunk but the usage chunk has `"usage":null`
    /// (vercel_openai-text.stream.jsonl, pai_stream_tool_call.response.sse); without it the
    /// field is absent (openaipy recordings, API reference).
    fn event(&self, choices: Vec<ChunkChoice<'_>>, usage: Option<Usage>) -> Vec<u8> {
        let usage = match (usage, self.include_usage) {
            (Some(u), _) => Field::Value(u),
            (None, true) => Field::Null,
            (None, false) => Field::Absent,
        };
        // Recent API versions pad every chunk with a random `obfuscation` string (opt out with
        // `stream_options.include_obfuscation: false`); clients must ignore it.
        let obfuscation = self.obfuscation.then(|| {
            let mut ids = self.ids.borrow_mut();
            let len = 2 + (ids.next_u64() % 14) as usize;
            ids.alnum(len)
        });
        let chunk = Chunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model,
            service_tier: "default",
            system_fingerprint: SYSTEM_FINGERPRINT,
            choices,
            usage,
            obfuscation,
        };
        frame(&serde_json::to_vec(&chunk).unwrap_or_default())
    }
}

/// The keep-alive of OpenAI-compatible streams (`keepalive_ms`): an SSE comment line, which
/// SSE parsers skip.
pub(crate) const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// `data: <json>\n\n`.
pub(crate) fn frame(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_fields_absent_null_or_set() {
        let d = Delta {
            role: Some("assistant"),
            content: Field::Value(""),
            refusal: Field::Null,
            ..Delta::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"role":"assistant","content":"","refusal":null}"#
        );
        assert_eq!(serde_json::to_string(&Delta::default()).unwrap(), "{}");
    }
}
