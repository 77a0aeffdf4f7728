//! The OpenAI drop-in: `client.chat.completions.create(body, options?)`, as openai-node's: a
//! Promise of a `chat.completion` object, or with `stream: true` a Promise of an async-iterable
//! stream of `chat.completion.chunk` objects (resolved once the stream has started, so a failing
//! call rejects here; `break` cancels it). The core reads `body` and makes the objects
//! (`polyfuse_core::openai`); `options` takes `signal` and `timeout` (milliseconds).
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;

use polyfuse_core as core;
use polyfuse_core::openai::{self, ChatCompletionCall};

use crate::calls::{signal, spawn};
use crate::client::Client;
use crate::convert::Signal;
use crate::options::describe;
use crate::stream::ChatStream;

#[napi]
impl Client {
    /// The OpenAI-shaped drop-in: `await client.chat.completions.create({ model, messages, ... })`.
    #[napi(getter)]
    pub fn chat(&self) -> Chat {
        Chat {
            client: self.inner.clone(),
        }
    }
}

/// `client.chat`.
#[napi]
pub struct Chat {
    client: core::Client,
}

#[napi]
impl Chat {
    /// `client.chat.completions`.
    #[napi(getter)]
    pub fn completions(&self) -> Completions {
        Completions {
            client: self.client.clone(),
        }
    }
}

/// `client.chat.completions`: `create(body, options?)` (typed in the header, with its overloads).
#[napi]
pub struct Completions {
    client: core::Client,
}

fn invalid(message: String) -> core::Error {
    core::Error::invalid_request(message)
}

/// The `create()` arguments: the body as JSON (with `options.timeout` as `timeout_ms`) and the signal.
fn arguments(
    env: &Env,
    body: Option<Unknown>,
    options: Option<Unknown>,
) -> std::result::Result<(ChatCompletionCall, Option<Signal>), core::Error> {
    let body = match body {
        Some(b)
            if b.get_type().ok() == Some(ValueType::Object) && !b.is_array().unwrap_or(false) =>
        {
            b
        }
        other => {
            let got = other
                .and_then(|v| v.get_type().ok().map(|t| describe(&v, t)))
                .unwrap_or("nothing");
            return Err(invalid(format!(
                "chat.completions.create(body): expected an object {{ model, messages, ... }}, got {got}"
            )));
        }
    };
    let mut body: Value = env
        .from_js_value(body)
        .map_err(|e| invalid(format!("chat.completions.create: {}", e.reason)))?;
    let mut found = None;
    if let Some(options) =
        options.filter(|o| !matches!(o.get_type(), Ok(ValueType::Undefined | ValueType::Null)))
    {
        let object: Object = unsafe { Object::from_napi_value(env.raw(), options.raw()) }.map_err(|_| {
            invalid("chat.completions.create(body, options): `options` must be an object { signal, timeout }".into())
        })?;
        let keys = Object::keys(&object).map_err(|e| invalid(e.reason))?;
        for key in keys {
            let value: Unknown = object
                .get_named_property(&key)
                .map_err(|e| invalid(e.reason))?;
            match key.as_str() {
                "signal" => found = signal(env, Some(value), "option `signal`")?,
                "timeout" => {
                    let ms: Value = env.from_js_value(value).map_err(|e| invalid(e.reason))?;
                    if !ms.is_null() {
                        body["timeout_ms"] = ms;
                    }
                }
                "maxRetries" => return Err(invalid(
                    "chat.completions.create: option `maxRetries` is not taken per call: polyfuse retries by its policy (`policy.max_attempts_per_target` in the config)".into(),
                )),
                "headers" | "query" | "fetchOptions" | "idempotencyKey" => return Err(invalid(format!(
                    "chat.completions.create: option `{key}` is not supported per call (set `headers` / `query` on the provider in the config)"
                ))),
                _ => return Err(invalid(format!(
                    "chat.completions.create: unknown option `{key}` (the options are `signal` and `timeout`)"
                ))),
            }
        }
    }
    Ok((ChatCompletionCall::from_value(body)?, found))
}

#[napi]
impl Completions {
    /// One chat completion (see the header's typings).
    #[napi(catch_unwind, skip_typescript)]
    pub fn create<'env>(
        &self,
        env: &'env Env,
        body: Option<Unknown>,
        options: Option<Unknown>,
    ) -> Result<PromiseRaw<'env, Either<Value, ChatStream>>> {
        let client = self.client.clone();
        let (call, signal) = match arguments(env, body, options) {
            Ok(parsed) => parsed,
            Err(e) => {
                let fut = std::future::ready(Err::<Value, _>(e));
                return spawn(env, String::new(), None, fut, |_, v, _| Ok(Either::A(v)));
            }
        };
        let model = call.request.model.clone();
        if call.stream {
            let fut = async move {
                let chunks = openai::chunk_stream(client.stream(call.request.clone()), &call);
                polyfuse_core::started(chunks).await
            };
            let stream_model = model.clone();
            spawn(env, model, signal, fut, move |_, chunks, signal| {
                Ok(Either::B(ChatStream::of_values(
                    chunks,
                    stream_model,
                    signal.take(),
                )))
            })
        } else {
            let fut = async move {
                let response = client.complete(call.request).await?;
                Ok(openai::chat_completion(&response))
            };
            spawn(env, model, signal, fut, |_, completion, _| {
                Ok(Either::A(completion))
            })
        }
    }
}
