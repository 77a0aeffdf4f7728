//! Value conversion between Python objects (dict, list, tuple, str, int, float, bool, None) and
//! `serde_json::Value`, with errors that name the argument and the key path: a value JSON cannot
//! carry (too deep, an integer out of range, NaN) is the library's error of the given kind
//! (`InvalidRequestError` for call arguments, `ConfigError` for the config), an unsupported Python
//! type a `TypeError`.
use polyfuse_core::{Error, ErrorKind};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Converts a call argument to JSON. `what` names it in errors (e.g. "argument `messages`").
pub fn to_value(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    to_value_as(obj, what, ErrorKind::InvalidRequest)
}

/// Converts a Python value to JSON; a value JSON cannot carry is an error of `kind`.
pub fn to_value_as(obj: &Bound<'_, PyAny>, what: &str, kind: ErrorKind) -> PyResult<Value> {
    let mut path = String::new();
    to_value_at(obj, &Ctx { what, kind }, &mut path, 0)
}

/// What is being converted: its name in errors, and the kind of a bad value's error.
struct Ctx<'a> {
    what: &'a str,
    kind: ErrorKind,
}

impl Ctx<'_> {
    fn bad_value(&self, path: &str, problem: String) -> PyErr {
        crate::error::to_pyerr(Error::new(
            self.kind,
            format!("{}: {problem}", located(self.what, path)),
        ))
    }
}

fn located(what: &str, path: &str) -> String {
    if path.is_empty() {
        what.to_string()
    } else {
        format!("{what} at `{path}`")
    }
}

fn to_value_at(
    obj: &Bound<'_, PyAny>,
    ctx: &Ctx<'_>,
    path: &mut String,
    depth: usize,
) -> PyResult<Value> {
    let what = ctx.what;
    if depth > 200 {
        return Err(ctx.bad_value(path, "nested too deeply (more than 200 levels)".into()));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    // bool before int: bool is a subclass of int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        return Err(ctx.bad_value(
            path,
            format!(
                "integer {} out of range (JSON integers are 64-bit)",
                obj.str()?
            ),
        ));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| ctx.bad_value(path, format!("{v} is not a finite number")));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = match k.cast::<PyString>() {
                Ok(s) => s.to_cow()?.into_owned(),
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "{}: dict keys must be str, got `{}`",
                        located(what, path),
                        type_name(&k)
                    )))
                }
            };
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&key);
            let value = to_value_at(&v, ctx, path, depth + 1)?;
            path.truncate(len);
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    let seq: Option<Vec<Bound<'_, PyAny>>> = if let Ok(l) = obj.cast::<PyList>() {
        Some(l.iter().collect())
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        Some(t.iter().collect())
    } else {
        None
    };
    if let Some(items) = seq {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            out.push(to_value_at(item, ctx, path, depth + 1)?);
            path.truncate(len);
        }
        return Ok(Value::Array(out));
    }
    Err(PyTypeError::new_err(format!(
        "{}: unsupported type `{}` (expected dict, list, tuple, str, int, float, bool or None)",
        located(what, path),
        type_name(obj)
    )))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// Converts a core value straight to Python (structs and maps become dicts, sequences lists),
/// with no `serde_json::Value` in between.
pub fn serialize<T: serde::Serialize + ?Sized>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    pythonize::pythonize(py, value)
        .map(Bound::unbind)
        .map_err(|e| {
            crate::error::to_pyerr(Error::new(
                ErrorKind::InvalidResponse,
                format!("cannot convert a value for Python: {e}"),
            ))
        })
}

/// Converts JSON to Python (objects become dicts, arrays lists).
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
