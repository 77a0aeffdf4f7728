//! `_Client`: holds a core `Client`. Each method converts its arguments to JSON values, builds a
//! core `Request` with `Request::from_values` (which validates and names bad arguments), runs the
//! core future on the binding's runtime and converts the result back.
use polyfuse_core::{Client, Config, Request};
use pyo3::prelude::*;
use pyo3::types::PyString;
use serde_json::Value;

use crate::error::to_pyerr;
use crate::handoff::{Channel, Hub};
use crate::stream::PyEventStream;
use crate::{convert, runtime, usage};

#[pyclass(frozen, name = "_Client", module = "polyfuse._polyfuse")]
pub struct PyClient {
    pub(crate) client: Client,
}

impl PyClient {
    /// The core client (for the drop-ins in `openai.rs`).
    pub(crate) fn core(&self) -> &Client {
        &self.client
    }
}

fn request(
    model: &Bound<'_, PyAny>,
    input: &Bound<'_, PyAny>,
    params: Option<&Bound<'_, PyAny>>,
) -> PyResult<Request> {
    let model = model.cast::<PyString>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "argument `model`: expected a string (\"provider/model\", a route name or \"fusion/<name>\"), got `{}`",
            model
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into())
        ))
    })?;
    let model = &*model.to_cow()?;
    let input = convert::to_value(input, "argument `messages`")?;
    let params = match params {
        Some(p) => convert::to_value(p, "parameters")?,
        None => Value::Null,
    };
    Request::from_values(model, input, params).map_err(to_pyerr)
}

/// A started call: its answer (a core struct, converted straight to a dict when taken) comes
/// through a [`Channel`]. Dropping it unawaited cancels it (its usage event says so).
#[pyclass(frozen, name = "_Call", module = "polyfuse._polyfuse")]
pub struct PyCall {
    channel: Channel,
}

impl PyCall {
    /// The call of `future`, run from the first `try_next` (the first await): a coroutine
    /// that is never awaited, or cancelled before it ran, sends nothing.
    pub(crate) fn new<F, T>(future: F) -> Self
    where
        F: std::future::Future<Output = Result<T, polyfuse_core::Error>> + Send + 'static,
        T: serde::Serialize + Send + 'static,
    {
        PyCall {
            channel: Channel::of_future(future),
        }
    }
}

#[pymethods]
impl PyCall {
    /// The answer as a dict, or `pending` while the call runs (then `wait`). Raises the call's
    /// error. Once: afterwards it returns `None`.
    fn try_next(&self, py: Python<'_>, pending: Py<PyAny>) -> PyResult<Option<Py<PyAny>>> {
        self.channel.next_or(py, pending)
    }

    /// Registers `future` (of the loop `hub` serves) to be resolved when the answer is there;
    /// False when it already is.
    fn wait(&self, hub: &Hub, future: Py<PyAny>) -> PyResult<bool> {
        self.channel.wait(hub, future)
    }

    /// Cancels the call now (its connection is closed). Idempotent.
    fn close(&self) {
        self.channel.close();
    }
}

#[pymethods]
impl PyClient {
    /// `config`: None, a dict, or a path (str) to a .json / .toml file. `on_usage`: a callable
    /// receiving each usage event as a dict.
    #[new]
    #[pyo3(signature = (config=None, on_usage=None))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        on_usage: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let config = match config {
            None => Config::default(),
            Some(c) if c.is_none() => Config::default(),
            Some(c) => match c.cast::<PyString>() {
                Ok(path) => {
                    let path = path.to_cow()?.into_owned();
                    py.detach(|| Config::from_file(&path)).map_err(to_pyerr)?
                }
                Err(_) => Config::from_value(convert::to_value_as(
                    c,
                    "argument `config`",
                    polyfuse_core::ErrorKind::Config,
                )?)
                .map_err(to_pyerr)?,
            },
        };
        let callbacks = on_usage.into_iter().map(usage::callback).collect();
        let client = py
            .detach(|| Client::new(config, callbacks))
            .map_err(to_pyerr)?;
        Ok(PyClient { client })
    }

    /// The names of the configured providers.
    fn provider_names(&self) -> Vec<String> {
        self.client.provider_names()
    }

    /// Starts a completion: the call exists (and is accounted for, even if it is never
    /// awaited) from now; `await call.result()` gives the Response as a dict.
    #[pyo3(signature = (model, messages, params=None))]
    fn start_complete(
        &self,
        model: &Bound<'_, PyAny>,
        messages: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyCall> {
        let req = request(model, messages, params)?;
        Ok(PyCall::new(self.client.complete(req)))
    }

    /// As `complete`, blocking (GIL released, interruptible with Ctrl-C).
    #[pyo3(signature = (model, messages, params=None))]
    fn complete_blocking(
        &self,
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        messages: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let req = request(model, messages, params)?;
        let response = runtime::block_on(py, self.client.complete(req))?;
        convert::serialize(py, &response)
    }

    /// A streamed call. Lazy: nothing is sent until the first `try_next()`.
    #[pyo3(signature = (model, messages, params=None))]
    fn stream(
        &self,
        model: &Bound<'_, PyAny>,
        messages: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyEventStream> {
        let req = request(model, messages, params)?;
        Ok(PyEventStream::new(self.client.stream(req)))
    }

    /// The circuit-breaker state of every target called so far, as dicts (`target`, `state`,
    /// `consecutive_failures`, `retry_in_ms`), sorted by target.
    fn health(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = serde_json::to_value(self.client.health())
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        Ok(convert::to_py(py, &value)?.unbind())
    }

    /// The usage totals (`Client::usage`) as a dict; `reset` starts them again.
    #[pyo3(signature = (reset=false))]
    fn usage(&self, py: Python<'_>, reset: bool) -> PyResult<Py<PyAny>> {
        let value = serde_json::to_value(self.client.usage(reset))
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        Ok(convert::to_py(py, &value)?.unbind())
    }

    /// The usage delivery counters as a dict (emitted, delivered, dropped, pending).
    fn delivery_stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = serde_json::to_value(self.client.delivery_stats())
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        Ok(convert::to_py(py, &value)?.unbind())
    }

    /// The ledger's counters as a dict (`written`, `failed`, `dropped`, `pending`); zeros with the
    /// ledger off.
    fn ledger_stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = serde_json::to_value(self.client.ledger_stats())
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        Ok(convert::to_py(py, &value)?.unbind())
    }

    /// Blocks (GIL released) until every usage event emitted so far was delivered.
    fn flush_usage(&self, py: Python<'_>) {
        let client = self.client.clone();
        py.detach(move || {
            client.flush_usage(None);
        });
    }

    /// As `flush_usage`, awaitable (waits on a blocking thread of the runtime).
    async fn aflush_usage(&self) -> PyResult<()> {
        let client = self.client.clone();
        let task = runtime::spawn(async move {
            tokio::task::spawn_blocking(move || {
                client.flush_usage(None);
            })
            .await
        })?;
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) | Err(e) => Err(crate::error::join_error(e)),
        }
    }

    /// Delivers pending usage events and stops the usage thread.
    fn close(&self, py: Python<'_>) {
        let client = self.client.clone();
        py.detach(move || {
            client.close(None);
        });
    }
}
