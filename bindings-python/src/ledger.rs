//! The usage ledger's query and the usage report, as module functions: each converts the path and
//! the filter, runs the core's function with the GIL released, and converts the result. No logic.
use std::path::PathBuf;

use polyfuse_core::LedgerFilter;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::convert;
use crate::error::to_pyerr;

/// The core's filter from a dict (`since_ms`, `until_ms`, `model`, `route`, `level`, `tags`,
/// `limit`) or None.
fn filter(filter: Option<&Bound<'_, PyAny>>) -> PyResult<LedgerFilter> {
    match filter {
        Some(f) if !f.is_none() => {
            LedgerFilter::from_value(convert::to_value(f, "argument `filter`")?).map_err(to_pyerr)
        }
        _ => Ok(LedgerFilter::default()),
    }
}

fn to_py(py: Python<'_>, value: serde_json::Result<serde_json::Value>) -> PyResult<Py<PyAny>> {
    let value = value.map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(convert::to_py(py, &value)?.unbind())
}

/// The ledger's events that match `filter`, as dicts (in the order written).
#[pyfunction]
#[pyo3(signature = (path, filter=None))]
pub fn ledger_query(
    py: Python<'_>,
    path: PathBuf,
    filter: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let filter = self::filter(filter)?;
    let events = py
        .detach(|| polyfuse_core::query_ledger(&path, &filter))
        .map_err(to_pyerr)?;
    to_py(py, serde_json::to_value(&events))
}

/// Writes the HTML usage report of the ledger's events that match `filter` to `out`; returns
/// the summary dict (`path`, `events`, `calls`, `charts`).
#[pyfunction]
#[pyo3(signature = (path, out, filter=None))]
pub fn write_report(
    py: Python<'_>,
    path: PathBuf,
    out: PathBuf,
    filter: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let filter = self::filter(filter)?;
    let summary = py
        .detach(|| polyfuse_core::write_report(&path, &out, &filter))
        .map_err(to_pyerr)?;
    to_py(py, serde_json::to_value(&summary))
}
