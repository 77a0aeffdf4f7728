//! An `AbortSignal` argument: read, listened to with `addEventListener('abort', ...)`, and the
//! listener taken off (`removeEventListener`) when the call settles, so a long-lived signal passed
//! to many calls holds nothing of the finished ones. (napi's own `AbortSignal` conversion keeps a
//! callback per call on the signal for as long as the signal lives, and overwrites its `onabort`.)
use napi::bindgen_prelude::*;
use tokio::sync::watch;

use polyfuse_core as core;

use crate::options::type_name;

/// The abort listener one call added to a signal: `signal.removeEventListener` bound to the
/// signal, `'abort'` and the listener.
pub(crate) struct Listener {
    remove: FunctionRef<(), ()>,
}

impl Listener {
    /// Takes the listener off its signal (on the JS thread; a failure leaves it, harmlessly, on).
    pub(crate) fn remove(self, env: &Env) {
        if let Ok(remove) = self.remove.borrow_back(env) {
            let _ = remove.call(());
        }
    }
}

/// A call's `AbortSignal`: whether it had fired already, and a receiver that turns true when it
/// fires. The listener behind it must be removed when the call settles ([`Signal::settle`]).
pub(crate) struct Signal {
    pub aborted: bool,
    pub fired: watch::Receiver<bool>,
    listener: Option<Listener>,
}

fn bad(what: &str, got: &str) -> core::Error {
    core::Error::invalid_request(format!("{what}: expected an AbortSignal, got {got}"))
}

impl Signal {
    /// Reads an `AbortSignal` argument (`what` names it in errors); `undefined` / `null` are none.
    /// A signal not yet aborted gets an abort listener.
    pub(crate) fn read(
        env: &Env,
        value: Option<Unknown>,
        what: &str,
    ) -> std::result::Result<Option<Signal>, core::Error> {
        let Some(value) = value else { return Ok(None) };
        let ty = value.get_type().map_err(|e| bad(what, &e.reason))?;
        if matches!(ty, ValueType::Undefined | ValueType::Null) {
            return Ok(None);
        }
        if ty != ValueType::Object {
            return Err(bad(what, type_name(ty)));
        }
        let object: Object = unsafe { Object::from_napi_value(env.raw(), value.raw()) }
            .map_err(|_| bad(what, type_name(ty)))?;
        let not_one = || bad(what, "an object that is not one");
        let Some(aborted) = object.get::<bool>("aborted").ok().flatten() else {
            return Err(not_one());
        };
        let (tx, fired) = watch::channel(aborted);
        if aborted {
            return Ok(Some(Signal {
                aborted,
                fired,
                listener: None,
            }));
        }
        let listener = listen(env, &object, tx).map_err(|_| not_one())?;
        Ok(Some(Signal {
            aborted,
            fired,
            listener: Some(listener),
        }))
    }

    /// Takes the listener (for a stream, which removes it when it ends).
    pub(crate) fn take_listener(&mut self) -> Option<Listener> {
        self.listener.take()
    }

    /// The call has settled: the listener comes off the signal.
    pub(crate) fn settle(self, env: &Env) {
        if let Some(listener) = self.listener {
            listener.remove(env);
        }
    }
}

/// `signal.addEventListener(type, listener, options)`.
type AddListener<'a> = Function<'a, FnArgs<(&'a str, Handler<'a>, Object<'a>)>, Unknown<'a>>;
/// `removeEventListener.bind(signal, type, listener)`.
type BindRemove<'a> = Function<'a, FnArgs<(&'a Object<'a>, &'a str, Handler<'a>)>, Handler<'a>>;
type Handler<'a> = Function<'a, (), ()>;

fn listen(env: &Env, signal: &Object, tx: watch::Sender<bool>) -> Result<Listener> {
    let handler = env.create_function_from_closure::<(), (), _>("polyfuseAbort", move |_| {
        tx.send_replace(true);
        Ok(())
    })?;
    let add: AddListener = signal.get_named_property("addEventListener")?;
    // A function: read it as an object to reach its `bind`.
    let remove: Unknown = signal.get_named_property("removeEventListener")?;
    if remove.get_type()? != ValueType::Function {
        return Err(Error::from_reason("removeEventListener is not a function"));
    }
    let remove = Object::from_raw(env.raw(), remove.raw());
    let bind: BindRemove = remove.get_named_property("bind")?;
    let mut once = Object::new(env)?;
    once.set("once", true)?;
    add.apply(signal, FnArgs::from(("abort", handler, once)))?;
    let bound = bind.apply(remove, FnArgs::from((signal, "abort", handler)))?;
    Ok(Listener {
        remove: bound.create_ref()?,
    })
}

/// Resolves when the signal fires; never, if the signal is gone without firing.
pub(crate) async fn wait_cancelled(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}
