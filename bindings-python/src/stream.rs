//! Streams: `_EventStream` holds a core stream (a call's `EventStream`, a fusion's
//! `FusionStream`, or a `ValueStream` of another SDK's shapes: the OpenAI drop-in's chunks) and
//! hands out one event per `next()` (async) or `next_blocking()` call, as a
//! dict (`{"type": "text_delta", ...}`), `None` at the end.
//! Dropping it (or `close()`) drops the core stream at once, which closes the HTTP connection and
//! records the call as cancelled if it had not finished.
use std::sync::Arc;

use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use polyfuse_core::{Error, ValueStream};
use pyo3::prelude::*;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{convert, runtime};

type Shared = Arc<Mutex<Option<BoxStream<'static, Result<Value, Error>>>>>;

#[pyclass(frozen, name = "_EventStream", module = "polyfuse._polyfuse")]
pub struct PyEventStream {
    inner: Shared,
}

impl PyEventStream {
    /// Hands out the events of `stream` (a core `EventStream` or `FusionStream`) as dicts.
    pub fn new<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<E, Error>> + Send + 'static,
        E: Serialize,
    {
        let values = stream.map(|item| {
            item.and_then(|event| {
                serde_json::to_value(&event).map_err(|e| {
                    Error::new(
                        polyfuse_core::ErrorKind::InvalidResponse,
                        format!("cannot convert a stream event: {e}"),
                    )
                })
            })
        });
        PyEventStream {
            inner: Arc::new(Mutex::new(Some(values.boxed()))),
        }
    }

    /// A stream whose items are already JSON values.
    pub fn of_values(stream: ValueStream) -> Self {
        PyEventStream {
            inner: Arc::new(Mutex::new(Some(stream))),
        }
    }
}

async fn next_event(inner: Shared) -> Result<Option<Value>, Error> {
    let mut guard = inner.lock().await;
    let Some(stream) = guard.as_mut() else {
        return Ok(None);
    };
    match stream.next().await {
        Some(Ok(event)) => Ok(Some(event)),
        Some(Err(e)) => {
            *guard = None;
            Err(e)
        }
        None => {
            *guard = None;
            Ok(None)
        }
    }
}

fn to_py_opt(value: Option<Value>) -> PyResult<Option<Py<PyAny>>> {
    Python::attach(|py| {
        value
            .map(|v| convert::to_py(py, &v).map(Bound::unbind))
            .transpose()
    })
}

#[pymethods]
impl PyEventStream {
    /// The next event as a dict, or None when the stream is over. Raises the call's error.
    async fn next(&self) -> PyResult<Option<Py<PyAny>>> {
        let value = runtime::run(next_event(self.inner.clone())).await?;
        to_py_opt(value)
    }

    /// As `next`, blocking (GIL released, interruptible with Ctrl-C).
    fn next_blocking(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let value = runtime::block_on(py, next_event(self.inner.clone()))?;
        to_py_opt(value)
    }

    /// Drops the stream now (closing its connection). Idempotent.
    fn close(&self) {
        match self.inner.try_lock() {
            Ok(mut guard) => {
                guard.take();
            }
            Err(_) => {
                // A `next` is in flight: drop the stream as soon as it lets go.
                let inner = self.inner.clone();
                if let Ok(handle) = runtime::handle() {
                    handle.spawn(async move {
                        inner.lock().await.take();
                    });
                }
            }
        }
    }
}
