//! The native half of the Vercel AI SDK provider (`ai-sdk.cjs`): `client._aiSdkGenerate(model,
//! options, signal)` (a Promise of `doGenerate`'s result) and `client._aiSdkStream(model, options,
//! signal)` (a Promise, resolved once the stream has started, of a stream of `doStream` parts).
//! The core reads the call options and makes the results (`polyfuse_core::ai_sdk`); the JS side
//! turns file data, URLs and dates into JSON and back.
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;

use polyfuse_core as core;
use polyfuse_core::ai_sdk::{self, LanguageModelCall};

use crate::calls::{signal, spawn};
use crate::client::Client;
use crate::convert::Signal;
use crate::stream::ChatStream;

fn arguments(
    env: &Env,
    model: &str,
    options: Unknown,
    abort: Option<Unknown>,
) -> std::result::Result<(LanguageModelCall, Option<Signal>), core::Error> {
    let options: Value = env.from_js_value(options).map_err(|e| {
        core::Error::invalid_request(format!(
            "polyfuse (AI SDK provider): call options: {}",
            e.reason
        ))
    })?;
    let call = LanguageModelCall::from_value(model, options)?;
    Ok((call, signal(env, abort, "abortSignal")?))
}

#[napi]
impl Client {
    /// `doGenerate` of the AI SDK provider (internal to `polyfuse/ai-sdk`).
    #[napi(js_name = "_aiSdkGenerate", catch_unwind, skip_typescript)]
    pub fn ai_sdk_generate<'env>(
        &self,
        env: &'env Env,
        model: String,
        options: Unknown,
        abort: Option<Unknown>,
    ) -> Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let (call, signal) = match arguments(env, &model, options, abort) {
            Ok(parsed) => parsed,
            Err(e) => {
                return spawn(env, model, None, std::future::ready(Err(e)), |_, v, _| {
                    Ok(v)
                })
            }
        };
        let fut = async move {
            let response = client.complete(call.request).await?;
            Ok(ai_sdk::generate_result(&response, &call.warnings))
        };
        spawn(env, model, signal, fut, |_, result, _| Ok(result))
    }

    /// `doStream` of the AI SDK provider (internal to `polyfuse/ai-sdk`).
    #[napi(js_name = "_aiSdkStream", catch_unwind, skip_typescript)]
    pub fn ai_sdk_stream<'env>(
        &self,
        env: &'env Env,
        model: String,
        options: Unknown,
        abort: Option<Unknown>,
    ) -> Result<PromiseRaw<'env, ChatStream>> {
        let client = self.inner.clone();
        let (call, signal) = match arguments(env, &model, options, abort) {
            Ok(parsed) => parsed,
            Err(e) => {
                let fut = std::future::ready(Err::<core::ValueStream, _>(e));
                return spawn(env, model.clone(), None, fut, move |_, parts, _| {
                    Ok(ChatStream::of_values(parts, model, None))
                });
            }
        };
        let stream_model = model.clone();
        let fut = async move {
            let parts = ai_sdk::part_stream(client.stream(call.request.clone()), &call);
            polyfuse_core::started(parts).await
        };
        spawn(env, model, signal, fut, move |_, parts, signal| {
            Ok(ChatStream::of_values(parts, stream_model, signal.take()))
        })
    }
}
