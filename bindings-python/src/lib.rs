//! `polyfuse._polyfuse`: the native module of the Python binding. It converts values, futures,
//! streams and callbacks between Python and `polyfuse-core`, and does nothing else.
//!
//! The public Python API lives in `python/polyfuse/` (a thin typed façade over this module).
mod client;
mod convert;
mod error;
mod fusion;
mod handoff;
mod ledger;
mod openai;
mod runtime;
mod stream;
mod usage;

use pyo3::prelude::*;

/// Converts a response dict (as returned by `_Client.complete`) to the OpenAI `chat.completion`
/// shape, using the core's `Response::to_openai`.
#[pyfunction]
fn response_to_openai(py: Python<'_>, response: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let value = convert::to_value(response, "response")?;
    let response: polyfuse_core::Response = serde_json::from_value(value).map_err(|e| {
        crate::error::to_pyerr(polyfuse_core::Error::new(
            polyfuse_core::ErrorKind::InvalidRequest,
            format!("argument `response`: {e}"),
        ))
    })?;
    Ok(convert::to_py(py, &response.to_openai())?.unbind())
}

/// A tool call's arguments parsed by the core (`FunctionCall::parsed_arguments`): `{}` for an
/// empty string, `None` when the model wrote invalid JSON.
#[pyfunction]
fn parse_tool_arguments(py: Python<'_>, arguments: String) -> PyResult<Py<PyAny>> {
    let call = polyfuse_core::FunctionCall {
        name: String::new(),
        arguments,
    };
    match call.parsed_arguments() {
        Some(v) => Ok(convert::to_py(py, &v)?.unbind()),
        None => Ok(py.None()),
    }
}

/// The core's error kinds with their class names, `[(kind, class_name), ...]`: the one list the
/// Python exception classes must match (a test checks it).
#[pyfunction]
fn _error_classes() -> Vec<(&'static str, &'static str)> {
    polyfuse_core::ErrorKind::ALL
        .iter()
        .map(|k| (k.as_str(), k.class_name()))
        .collect()
}

/// Reports `exc` through `sys.unraisablehook` (used for exceptions raised by usage callbacks).
#[pyfunction]
#[pyo3(signature = (exc, obj=None))]
fn _report_unraisable(py: Python<'_>, exc: &Bound<'_, PyAny>, obj: Option<&Bound<'_, PyAny>>) {
    PyErr::from_value(exc.clone()).write_unraisable(py, obj);
}

#[pymodule]
fn _polyfuse(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::PyClient>()?;
    m.add_class::<client::PyCall>()?;
    m.add_class::<stream::PyEventStream>()?;
    m.add_class::<handoff::Hub>()?;
    m.add_class::<openai::PyOpenAICall>()?;
    m.add_function(wrap_pyfunction!(openai::_openai_call, m)?)?;
    m.add_function(wrap_pyfunction!(openai::_openai_complete, m)?)?;
    m.add_function(wrap_pyfunction!(openai::_openai_complete_blocking, m)?)?;
    m.add_function(wrap_pyfunction!(openai::_openai_stream, m)?)?;
    m.add_function(wrap_pyfunction!(openai::_openai_stream_blocking, m)?)?;
    m.add_function(wrap_pyfunction!(response_to_openai, m)?)?;
    m.add_function(wrap_pyfunction!(fusion::_fuse_start, m)?)?;
    m.add_function(wrap_pyfunction!(fusion::_fuse_blocking, m)?)?;
    m.add_function(wrap_pyfunction!(fusion::_fuse_stream, m)?)?;
    m.add_function(wrap_pyfunction!(parse_tool_arguments, m)?)?;
    m.add_function(wrap_pyfunction!(_report_unraisable, m)?)?;
    m.add_function(wrap_pyfunction!(_error_classes, m)?)?;
    m.add_function(wrap_pyfunction!(usage::_drain_usage_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(ledger::ledger_query, m)?)?;
    m.add_function(wrap_pyfunction!(ledger::write_report, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_after_fork_child, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
