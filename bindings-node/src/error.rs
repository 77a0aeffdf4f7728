//! Core [`polyfuse_core::Error`] → a JS error: `PolyfuseError` (extends `Error`) and one subclass
//! per [`ErrorKind`] (`RateLimitError`, `AuthenticationError`, ...), each carrying `kind`,
//! `provider`, `model`, `status`, `retryAfterMs`, `requestId`, `providerCode`, `retryable` and
//! `attempts`. The classes are defined in JS at module load (napi cannot subclass `Error`
//! natively) from the core's list, [`ErrorKind::ALL`] with [`ErrorKind::class_name`], so a kind
//! added to the core gets its class here without a change; instances are built on the JS thread,
//! where an `Env` is at hand.
use std::cell::RefCell;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use polyfuse_core::ErrorKind;

use crate::convert::{attempt_to_js, Attempt};

/// Takes the module's `exports` and the `[kind, className]` pairs; defines `PolyfuseError` and a
/// subclass per pair (its `kind` fixed, also as a static `kind`), patches
/// `ChatStream.prototype[Symbol.asyncIterator]`, and returns `(message, fields) => error`, which
/// builds the class of `fields.kind`.
const INSTALL_JS: &str = r#"(function (exports, kinds) {
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
  const named = (cls, name) =>
    Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
  named(PolyfuseError, 'PolyfuseError');
  exports.PolyfuseError = PolyfuseError;
  const byKind = new Map();
  for (const [kind, name] of kinds) {
    const cls = { [name]: class extends PolyfuseError {
      constructor(message, fields) { super(message, { ...fields, kind }); }
    } }[name];
    named(cls, name);
    Object.defineProperty(cls, 'kind', { value: kind, enumerable: true });
    byKind.set(kind, cls);
    exports[name] = cls;
  }
  if (exports.ChatStream) {
    Object.defineProperty(exports.ChatStream.prototype, Symbol.asyncIterator, {
      value: function () { return this; }, writable: true, configurable: true,
    });
  }
  return (message, fields) => new (byKind.get(fields.kind) || PolyfuseError)(message, fields);
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

/// `(message, fields) => new <class of fields.kind>(message, fields)`.
type ErrorFactory = FunctionRef<FnArgs<(String, ErrorFields)>, Unknown<'static>>;

thread_local! {
    /// The factory, per JS thread (each Node environment loads the module for itself).
    static ERROR_FACTORY: RefCell<Option<ErrorFactory>> = const { RefCell::new(None) };
}

pub(crate) fn install(env: &Env, exports: Object) -> Result<()> {
    type Install<'a> = Function<
        'a,
        FnArgs<(Object<'a>, Vec<Vec<&'static str>>)>,
        Function<'a, FnArgs<(String, ErrorFields)>, Unknown<'static>>,
    >;
    let install: Install = env.run_script(INSTALL_JS)?;
    let kinds = ErrorKind::ALL
        .iter()
        .map(|k| vec![k.as_str(), k.class_name()])
        .collect();
    let factory = install.call(FnArgs::from((exports, kinds)))?;
    let factory_ref = factory.create_ref()?;
    ERROR_FACTORY.with(|c| *c.borrow_mut() = Some(factory_ref));
    Ok(())
}

/// Builds the JS error (the class of its kind) for a core error. Falls back to a plain napi error
/// if the classes are somehow unavailable.
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
    ERROR_FACTORY.with(|c| {
        let factory = c.borrow();
        let factory = factory
            .as_ref()
            .ok_or_else(|| {
                napi::Error::from_reason("polyfuse: the error classes are not installed")
            })?
            .borrow_back(env)?;
        let instance = factory.call(FnArgs::from((message, fields)))?;
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
