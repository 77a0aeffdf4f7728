//! Error conversion: a core `Error` becomes an instance of the `polyfuse.exceptions` class for its
//! kind, carrying every field as an attribute. Messages are already key-free (the core redacts them).
use polyfuse_core::{Error, ErrorKind};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

use crate::convert;

static ERROR_FROM_KIND: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Builds the Python exception for a core error (attaches to the interpreter if needed).
pub fn to_pyerr(e: Error) -> PyErr {
    Python::attach(|py| build(py, &e).unwrap_or_else(|failure| failure))
}

fn build(py: Python<'_>, e: &Error) -> Result<PyErr, PyErr> {
    let factory = ERROR_FROM_KIND.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("polyfuse.exceptions")?
            .getattr("_from_native")?
            .unbind())
    })?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("message", &e.message)?;
    kwargs.set_item("kind", e.kind.as_str())?;
    kwargs.set_item("provider", e.provider.as_deref())?;
    kwargs.set_item("model", e.model.as_deref())?;
    kwargs.set_item("status_code", e.status)?;
    kwargs.set_item("retry_after_s", e.retry_after.map(|d| d.as_secs_f64()))?;
    kwargs.set_item("request_id", e.request_id.as_deref())?;
    kwargs.set_item("provider_code", e.provider_code.as_deref())?;
    let attempts = PyList::empty(py);
    for a in &e.attempts {
        let v = serde_json::to_value(a).map_err(|err| PyRuntimeError::new_err(err.to_string()))?;
        attempts.append(convert::to_py(py, &v)?)?;
    }
    kwargs.set_item("attempts", attempts)?;
    let exc = factory.bind(py).call((e.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exc))
}

/// A panic caught in the binding, as a `polyfuse.InternalError` (kind `internal`, also a
/// RuntimeError): the process never dies of one.
pub fn panicked(msg: &str) -> PyErr {
    to_pyerr(Error::new(
        ErrorKind::Internal,
        format!("polyfuse internal error (Rust panic): {msg}; please report it"),
    ))
}

/// The error for a spawned task that did not finish: a panic becomes a `polyfuse.InternalError`
/// (never a crash), a task cancelled by runtime shutdown a `polyfuse.CancelledError`.
pub fn join_error(e: tokio::task::JoinError) -> PyErr {
    if e.is_panic() {
        panicked(&crate::runtime::panic_message(e.into_panic().as_ref()))
    } else {
        to_pyerr(Error::new(
            ErrorKind::Cancelled,
            "the call was cancelled (the polyfuse runtime is shutting down)",
        ))
    }
}
