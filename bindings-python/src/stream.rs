//! Streams: `_EventStream` holds a core stream (a call's `EventStream`, a fusion's
//! `FusionStream`, or a `ValueStream` of another SDK's shapes: the OpenAI drop-in's chunks) in a
//! [`Channel`] and hands out its events as dicts (`{"type": "text_delta", ...}`): `try_next`
//! takes a queued one without waiting, `wait` registers an asyncio future for the next one,
//! `next_blocking` waits with the GIL released. Dropping it (or `close()`) drops the core stream
//! at once, which closes the HTTP connection and records the call as cancelled if it had not
//! finished.
use futures_util::Stream;
use polyfuse_core::{Error, ValueStream};
use pyo3::prelude::*;
use serde::Serialize;

use crate::handoff::{Channel, Hub};

#[pyclass(frozen, name = "_EventStream", module = "polyfuse._polyfuse")]
pub struct PyEventStream {
    channel: Channel,
}

impl PyEventStream {
    /// Hands out the events of `stream` (a core `EventStream` or `FusionStream`) as dicts.
    pub fn new<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<E, Error>> + Send + 'static,
        E: Serialize + Send + 'static,
    {
        PyEventStream {
            channel: Channel::of_stream(stream),
        }
    }

    /// A stream whose items are already JSON values.
    pub fn of_values(stream: ValueStream) -> Self {
        PyEventStream::new(stream)
    }
}

#[pymethods]
impl PyEventStream {
    /// The next queued event as a dict, `None` when the stream is over, or `pending` when no
    /// event is queued yet (then `wait`). Raises the call's error. Starts the call on first use.
    fn try_next(&self, py: Python<'_>, pending: Py<PyAny>) -> PyResult<Option<Py<PyAny>>> {
        self.channel.next_or(py, pending)
    }

    /// Registers `future` (of the loop `hub` serves) to be resolved when an event is queued;
    /// False when one already is (nothing registered: call `try_next` again).
    fn wait(&self, hub: &Hub, future: Py<PyAny>) -> PyResult<bool> {
        self.channel.wait(hub, future)
    }

    /// The next event, blocking (GIL released, interruptible with Ctrl-C); `None` at the end.
    fn next_blocking(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.channel.next_blocking(py)
    }

    /// Drops the stream now (closing its connection). Idempotent.
    fn close(&self) {
        self.channel.close();
    }
}
