//! JS values → `serde_json::Value`, for the caller's data (`messages`, `tags`, `extra`,
//! `metadata`, the config document, a ledger filter). Only plain data converts: nesting is bounded
//! at [`MAX_DEPTH`] levels (Python's limit), a cyclic object and a number JSON cannot carry (NaN,
//! ±Infinity) are refused, and each error names the argument and the key path. `undefined` object
//! properties are left out, as `JSON.stringify` does. The walk recurses at most [`MAX_DEPTH`]
//! levels, so no input can exhaust the native stack.
use napi::bindgen_prelude::*;
use napi::JsValue;
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted (objects and arrays), the same as the Python binding's.
pub(crate) const MAX_DEPTH: usize = 200;

/// Converts `value`; `what` names it in errors (e.g. "option `tags`"). The error is the message
/// only: the caller gives it its kind (`invalid_request`, `config`).
pub(crate) fn to_value(
    env: &Env,
    value: Unknown,
    what: &str,
) -> std::result::Result<Value, String> {
    let mut walk = Walk {
        env,
        what,
        path: String::new(),
        ancestors: Vec::new(),
    };
    walk.value(value)
}

struct Walk<'a> {
    env: &'a Env,
    what: &'a str,
    /// Where the walk is: `messages[0].content`.
    path: String,
    /// The objects and arrays containing the current value (to see a cycle).
    ancestors: Vec<Unknown<'a>>,
}

impl<'a> Walk<'a> {
    fn fail(&self, what_is_wrong: impl std::fmt::Display) -> String {
        if self.path.is_empty() {
            format!("{}: {what_is_wrong}", self.what)
        } else {
            format!(
                "{} at `{}`: {what_is_wrong}",
                self.what,
                shortened(&self.path)
            )
        }
    }

    fn napi(&self, e: napi::Error) -> String {
        self.fail(e.reason)
    }

    fn value(&mut self, value: Unknown<'a>) -> std::result::Result<Value, String> {
        let ty = value.get_type().map_err(|e| self.napi(e))?;
        let raw = (self.env.raw(), value.raw());
        match ty {
            ValueType::Undefined | ValueType::Null => Ok(Value::Null),
            ValueType::Boolean => unsafe { bool::from_napi_value(raw.0, raw.1) }
                .map(Value::Bool)
                .map_err(|e| self.napi(e)),
            ValueType::String => unsafe { String::from_napi_value(raw.0, raw.1) }
                .map(Value::String)
                .map_err(|e| self.napi(e)),
            ValueType::Number => {
                let n = unsafe { f64::from_napi_value(raw.0, raw.1) }.map_err(|e| self.napi(e))?;
                self.number(n)
            }
            ValueType::BigInt => {
                let b = unsafe { BigInt::from_napi_value(raw.0, raw.1) }.map_err(|e| self.napi(e))?;
                let (signed, lossless) = b.get_i64();
                if lossless {
                    return Ok(Value::Number(signed.into()));
                }
                let (negative, unsigned, lossless) = b.get_u64();
                if lossless && !negative {
                    return Ok(Value::Number(unsigned.into()));
                }
                Err(self.fail("a BigInt out of the 64-bit range"))
            }
            ValueType::Object => self.container(value),
            other => Err(self.fail(format!(
                "a {} is not JSON data (expected an object, array, string, number, boolean or null)",
                match other {
                    ValueType::Function => "function",
                    ValueType::Symbol => "symbol",
                    _ => "native value",
                }
            ))),
        }
    }

    fn number(&self, n: f64) -> std::result::Result<Value, String> {
        if !n.is_finite() {
            let js = if n.is_nan() {
                "NaN"
            } else if n > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            };
            return Err(self.fail(format!(
                "{js} is not a finite number (JSON has no NaN or Infinity)"
            )));
        }
        // Integral values within i64 become integers (as JSON.parse(JSON.stringify(x)) reads).
        if n.fract() == 0.0 && n.abs() < 9.223_372_036_854_776e18 {
            return Ok(Value::Number((n as i64).into()));
        }
        Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| self.fail(format!("{n} is not a finite number")))
    }

    fn container(&mut self, value: Unknown<'a>) -> std::result::Result<Value, String> {
        if self.ancestors.len() >= MAX_DEPTH {
            return Err(self.fail(format!(
                "nested too deeply (more than {MAX_DEPTH} levels of objects and arrays)"
            )));
        }
        for ancestor in &self.ancestors {
            if self
                .env
                .strict_equals(*ancestor, value)
                .map_err(|e| self.napi(e))?
            {
                return Err(self.fail(
                    "a cyclic reference (the value contains itself), which JSON cannot carry",
                ));
            }
        }
        let object = unsafe { Object::from_napi_value(self.env.raw(), value.raw()) }
            .map_err(|e| self.napi(e))?;
        self.ancestors.push(value);
        let result = if object.is_array().map_err(|e| self.napi(e))? {
            self.array(&object)
        } else {
            self.object(&object)
        };
        self.ancestors.pop();
        result
    }

    fn array(&mut self, array: &Object<'a>) -> std::result::Result<Value, String> {
        let len = array.get_array_length().map_err(|e| self.napi(e))?;
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let mark = self.path.len();
            self.path.push_str(&format!("[{i}]"));
            let item: Unknown = array.get_element(i).map_err(|e| self.napi(e))?;
            out.push(self.value(item)?);
            self.path.truncate(mark);
        }
        Ok(Value::Array(out))
    }

    fn object(&mut self, object: &Object<'a>) -> std::result::Result<Value, String> {
        let keys = Object::keys(object).map_err(|e| self.napi(e))?;
        let mut map = Map::new();
        for key in keys {
            let mark = self.path.len();
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(&key);
            let item: Unknown = object.get_named_property(&key).map_err(|e| self.napi(e))?;
            if item.get_type().map_err(|e| self.napi(e))? != ValueType::Undefined {
                let v = self.value(item)?;
                map.insert(key, v);
            }
            self.path.truncate(mark);
        }
        Ok(Value::Object(map))
    }
}

/// A key path of at most about [`PATH_SHOWN`] characters: a long one keeps its start and its
/// end, with `…` between.
fn shortened(path: &str) -> String {
    let chars = path.chars().count();
    if chars <= PATH_SHOWN {
        return path.to_string();
    }
    let head: String = path.chars().take(PATH_SHOWN / 2).collect();
    let tail: String = path.chars().skip(chars - PATH_SHOWN / 2).collect();
    format!("{head}…{tail}")
}

/// How much of a key path an error shows.
const PATH_SHOWN: usize = 120;
