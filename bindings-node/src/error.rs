//! Core [`polyfuse_core::Error`] → a JS `PolyfuseError` (extends `Error`) carrying `kind`,
//! `provider`, `model`, `status`, `retryAfterMs`, `requestId`, `providerCode`, `retryable` and
//! `attempts`. The class is defined in JS at module load (napi cannot subclass `Error` natively);
//! instances are built on the JS thread, where an `Env` is at hand.
use std::cell::RefCell;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{attempt_to_js, Attempt};

/// Defines the class and patches `ChatStream.prototype[Symbol.asyncIterator]`; the function takes
/// the module's `exports` and returns the class.
const INSTALL_JS: &str = r#"(function (exports) {
  class PolyfuseError extends Error {
    constructor(message, fields) {
      super(message);
      if (fields) {
        for (const key of Object.keys(fields)) {
          if (fields[key] !== undefined) this[key] = fields[key];
        }
      }
    }
  }
  Object.defineProperty(PolyfuseError.prototype, 'name', { value: 'PolyfuseError', writable: true, configurable: true });
  exports.PolyfuseError = PolyfuseError;
  if (exports.ChatStream) {
    Object.defineProperty(exports.ChatStream.prototype, Symbol.asyncIterator, {
      value: function () { return this; }, writable: true, configurable: true,
    });
  }
  return PolyfuseError;
})"#;

/// The properties of a `PolyfuseError` besides `message`.
#[napi(object, js_name = "PolyfuseErrorFields")]
pub struct ErrorFields {
    /// What went wrong, by meaning (`rate_limited`, `authentication`, `cancelled`, ...).
    #[napi(ts_type = "ErrorKind")]
    pub kind: String,
    /// Whether another attempt at the same target could succeed.
    pub retryable: bool,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// HTTP status of the provider's answer, when there was one.
    pub status: Option<u32>,
    /// How long the provider asked us to wait before retrying.
    pub retry_after_ms: Option<f64>,
    /// The provider's request id, when it sent one.
    pub request_id: Option<String>,
    /// The provider's error code / type (e.g. `insufficient_quota`).
    pub provider_code: Option<String>,
    /// Every attempt made for the call that failed.
    pub attempts: Vec<Attempt>,
}

/// `new PolyfuseError(message, fields)`.
type ErrorClass = FunctionRef<FnArgs<(String, ErrorFields)>, Unknown<'static>>;

thread_local! {
    /// The class, per JS thread (each Node environment loads the module for itself).
    static ERROR_CLASS: RefCell<Option<ErrorClass>> = const { RefCell::new(None) };
}

pub(crate) fn install(env: &Env, exports: Object) -> Result<()> {
    let install: Function<Object, Function<FnArgs<(String, ErrorFields)>, Unknown<'static>>> =
        env.run_script(INSTALL_JS)?;
    let class = install.call(exports)?;
    let class_ref = class.create_ref()?;
    ERROR_CLASS.with(|c| *c.borrow_mut() = Some(class_ref));
    Ok(())
}

/// Builds the JS `PolyfuseError` for a core error. Falls back to a plain napi error (with the kind
/// as `code`) if the class is somehow unavailable.
pub(crate) fn to_js_error(env: &Env, e: polyfuse_core::Error) -> napi::Error {
    match build(env, &e) {
        Ok(err) => err,
        Err(_) => napi::Error::new(Status::GenericFailure, e.to_string()),
    }
}

fn build(env: &Env, e: &polyfuse_core::Error) -> Result<napi::Error> {
    let fields = ErrorFields {
        kind: e.kind.as_str().to_string(),
        retryable: e.is_retryable(),
        provider: e.provider.clone(),
        model: e.model.clone(),
        status: e.status.map(u32::from),
        retry_after_ms: e.retry_after.map(|d| d.as_secs_f64() * 1000.0),
        request_id: e.request_id.clone(),
        provider_code: e.provider_code.clone(),
        attempts: e.attempts.iter().map(attempt_to_js).collect(),
    };
    let message = e.to_string();
    ERROR_CLASS.with(|c| {
        let class = c.borrow();
        let class = class
            .as_ref()
            .ok_or_else(|| napi::Error::from_reason("polyfuse: PolyfuseError is not installed"))?
            .borrow_back(env)?;
        let instance = class.new_instance(FnArgs::from((message, fields)))?;
        Ok(napi::Error::from(instance))
    })
}

/// A `cancelled` error for a call on `model` (AbortSignal fired).
pub(crate) fn cancelled(model: &str) -> polyfuse_core::Error {
    polyfuse_core::Error::cancelled().with_model(model)
}

/// A panic caught in the binding, as an error (the process must never die of one).
pub(crate) fn panicked(what: &str) -> polyfuse_core::Error {
    polyfuse_core::Error::new(
        polyfuse_core::ErrorKind::Internal,
        format!("polyfuse internal error: a panic was caught in {what}; please report it"),
    )
}
