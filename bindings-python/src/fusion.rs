//! Fusion for Python: `_fuse_start`, `_fuse_blocking` and `_fuse_stream` take a `_Client`, the
//! prompt or messages and a dict of options, build a core `FuseRequest` with
//! `FuseRequest::from_values` (which validates and names bad options), and hand the core's
//! future or stream across: the result is the core's `FusionResult` as a dict, the stream's events
//! the core's `FusionEvent`s as dicts. Cancelling the awaiting task (or dropping the stream)
//! drops the core future, which cancels every member and judge call still running.
use polyfuse_core::FuseRequest;
use pyo3::prelude::*;
use serde_json::Value;

use crate::client::{PyCall, PyClient};
use crate::error::to_pyerr;
use crate::stream::PyEventStream;
use crate::{convert, runtime};

fn fuse_request(
    input: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<FuseRequest> {
    let input = convert::to_value(input, "argument `messages`")?;
    let options = match options {
        Some(o) => convert::to_value(o, "fuse options")?,
        None => Value::Null,
    };
    FuseRequest::from_values(input, options).map_err(to_pyerr)
}

/// A fusion, run from the first await of its `_Call`, which gives its `FusionResult` as a dict.
#[pyfunction]
#[pyo3(signature = (client, messages, options=None))]
pub fn _fuse_start(
    client: &PyClient,
    messages: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyCall> {
    let req = fuse_request(messages, options)?;
    let client = client.client.clone();
    Ok(PyCall::new(async move { client.fuse(req).await }))
}

/// As `_fuse_start`, blocking (GIL released, interruptible with Ctrl-C, which cancels it).
#[pyfunction]
#[pyo3(signature = (client, messages, options=None))]
pub fn _fuse_blocking(
    py: Python<'_>,
    client: &PyClient,
    messages: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let req = fuse_request(messages, options)?;
    let client = client.client.clone();
    let result = runtime::block_on(py, async move { client.fuse(req).await })?;
    convert::serialize(py, &result)
}

/// A streamed fusion (events as dicts). Lazy: nothing is sent until the first `try_next()`.
#[pyfunction]
#[pyo3(signature = (client, messages, options=None))]
pub fn _fuse_stream(
    client: &PyClient,
    messages: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyEventStream> {
    let req = fuse_request(messages, options)?;
    Ok(PyEventStream::new(client.client.fuse_stream(req)))
}
