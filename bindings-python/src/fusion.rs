//! Fusion for Python: `_fuse_start`, `_fuse_blocking` and `_fuse_stream` take a `_Client`, the
//! prompt or messages and a dict of options, build a core `FuseRequest` with
//! `FuseRequest::from_values` (which validates and names bad options), and hand the core's
//! future or stream across: the result is the core's `FusionResult` as a dict, the stream's events
//! the core's `FusionEvent`s as dicts. Cancelling the awaiting task (or dropping the stream)
//! drops the core future, which cancels every member and judge call still running.
use polyfuse_core::{Client, Error, ErrorKind, FuseRequest, FusionResult};
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

/// The fusion, started now, answered as the result's JSON value.
fn fuse_value(
    client: &Client,
    req: FuseRequest,
) -> impl std::future::Future<Output = Result<Value, Error>> + Send + 'static {
    let client = client.clone();
    async move {
        let result: FusionResult = client.fuse(req).await?;
        serde_json::to_value(&result).map_err(|e| {
            Error::new(
                ErrorKind::InvalidResponse,
                format!("cannot convert the fusion result: {e}"),
            )
        })
    }
}

/// Starts a fusion; `await call.result()` gives the `FusionResult` as a dict.
#[pyfunction]
#[pyo3(signature = (client, messages, options=None))]
pub fn _fuse_start(
    client: &PyClient,
    messages: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyCall> {
    let req = fuse_request(messages, options)?;
    Ok(PyCall::new(fuse_value(&client.client, req)))
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
    let value = runtime::block_on(py, fuse_value(&client.client, req))?;
    Ok(convert::to_py(py, &value)?.unbind())
}

/// A streamed fusion (events as dicts). Lazy: nothing is sent until the first `next()`.
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
