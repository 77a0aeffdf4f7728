//! The native half of the OpenAI drop-in (`client.chat.completions.create`): `_openai_call` reads
//! the argument dict with the core (`openai::ChatCompletionCall`, which names every mistake);
//! `_openai_complete` (a started `_Call`, and blocking) gives the core's `chat.completion` dict;
//! `_openai_stream` (async and blocking) waits for the stream to start, so that a failing request
//! raises from `create()` as with the official SDK, and returns an `_EventStream` of
//! `chat.completion.chunk` dicts.
use polyfuse_core::openai::{self, ChatCompletionCall};
use polyfuse_core::{Client, Error, ValueStream};
use pyo3::prelude::*;

use crate::client::{PyCall, PyClient};
use crate::error::to_pyerr;
use crate::stream::PyEventStream;
use crate::{convert, runtime};

/// A parsed `create()` call.
#[pyclass(frozen, name = "_OpenAICall", module = "polyfuse._polyfuse")]
pub struct PyOpenAICall {
    call: ChatCompletionCall,
}

#[pymethods]
impl PyOpenAICall {
    /// Whether the call streams (`stream=True`).
    #[getter]
    fn stream(&self) -> bool {
        self.call.stream
    }
}

/// Reads the keyword arguments of `chat.completions.create` (a dict).
#[pyfunction]
pub fn _openai_call(args: &Bound<'_, PyAny>) -> PyResult<PyOpenAICall> {
    let value = convert::to_value(args, "chat.completions.create")?;
    let call = ChatCompletionCall::from_value(value).map_err(to_pyerr)?;
    Ok(PyOpenAICall { call })
}

async fn complete(client: Client, call: ChatCompletionCall) -> Result<serde_json::Value, Error> {
    let response = client.complete(call.request).await?;
    Ok(openai::chat_completion(&response))
}

async fn stream(client: Client, call: ChatCompletionCall) -> Result<ValueStream, Error> {
    let chunks = openai::chunk_stream(client.stream(call.request.clone()), &call);
    polyfuse_core::started(chunks).await
}

fn to_py(value: serde_json::Value) -> PyResult<Py<PyAny>> {
    Python::attach(|py| Ok(convert::to_py(py, &value)?.unbind()))
}

/// A non-streaming call, run from the first await of its `_Call`, which gives the `chat.completion` dict.
#[pyfunction]
pub fn _openai_complete(
    client: &Bound<'_, PyClient>,
    call: &Bound<'_, PyOpenAICall>,
) -> PyResult<PyCall> {
    Ok(PyCall::new(complete(
        client.get().core().clone(),
        call.get().call.clone(),
    )))
}

/// As `_openai_complete`, blocking (GIL released, interruptible with Ctrl-C).
#[pyfunction]
pub fn _openai_complete_blocking(
    py: Python<'_>,
    client: &Bound<'_, PyClient>,
    call: &Bound<'_, PyOpenAICall>,
) -> PyResult<Py<PyAny>> {
    let fut = complete(client.get().core().clone(), call.get().call.clone());
    to_py(runtime::block_on(py, fut)?)
}

/// The chunks of a streaming call, once it has started.
#[pyfunction]
pub async fn _openai_stream(
    client: Py<PyClient>,
    call: Py<PyOpenAICall>,
) -> PyResult<PyEventStream> {
    let chunks = runtime::run(stream(client.get().core().clone(), call.get().call.clone())).await?;
    Ok(PyEventStream::of_values(chunks))
}

/// As `_openai_stream`, blocking.
#[pyfunction]
pub fn _openai_stream_blocking(
    py: Python<'_>,
    client: &Bound<'_, PyClient>,
    call: &Bound<'_, PyOpenAICall>,
) -> PyResult<PyEventStream> {
    let fut = stream(client.get().core().clone(), call.get().call.clone());
    Ok(PyEventStream::of_values(runtime::block_on(py, fut)?))
}
