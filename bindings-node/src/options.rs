//! The shape of what JS passes in: `new Client(options)` and `complete(options)` / `stream(options)`.
//! Each takes one options object; this module turns the usual mistakes (a config document or a
//! file path instead of `{ config }`, `onusage`, Python-style positional arguments, `message` for
//! `messages`) into errors that name the mistake and say what to write instead. The option names
//! are the tables below; everything else about the values is the core's to check.
use napi::bindgen_prelude::*;
use napi::JsValue;

use polyfuse_core as core;

/// The options of `new Client()`, with what each takes.
const CLIENT_OPTIONS: &[(&str, &str)] = &[
    (
        "config",
        "a config document or the path of a .json / .toml file",
    ),
    ("onUsage", "a function called with each usage event"),
];

/// The call options the binding reads itself; every other key is a request parameter, which the
/// core checks (and rejects when unknown).
pub(crate) const CALL_OPTIONS: &[&str] = &["model", "messages", "prompt", "signal"];

/// The `config` and `onUsage` values of `new Client(options)` (`None` when absent).
pub(crate) struct ClientArgs<'a> {
    pub config: Option<Unknown<'a>>,
    pub on_usage: Option<Unknown<'a>>,
}

fn config_error(message: String) -> core::Error {
    core::Error::config(message)
}

/// Reads `new Client(options)`.
pub(crate) fn client_args<'a>(
    env: &Env,
    options: Option<Unknown<'a>>,
) -> std::result::Result<ClientArgs<'a>, core::Error> {
    let none = ClientArgs {
        config: None,
        on_usage: None,
    };
    let Some(options) = options else {
        return Ok(none);
    };
    let ty = value_type(&options).map_err(config_error)?;
    match ty {
        ValueType::Undefined | ValueType::Null => return Ok(none),
        ValueType::String => {
            let path = string(env, &options).map_err(config_error)?;
            return Err(config_error(format!(
                "new Client({path}): a config file goes in the `config` option: write `new Client({{ config: {path} }})`",
                path = quoted(&path)
            )));
        }
        ValueType::Function => {
            return Err(config_error(
                "new Client(callback): the usage callback goes in the `onUsage` option: write `new Client({ onUsage: callback })`"
                    .to_string(),
            ))
        }
        ValueType::Object if !options.is_array().unwrap_or(false) => {}
        _ => {
            return Err(config_error(format!(
                "new Client(options): expected an options object {{ config, onUsage }}, got {}",
                describe(&options, ty)
            )))
        }
    }
    let object = object(env, &options).map_err(config_error)?;
    let keys = Object::keys(&object).map_err(|e| config_error(format!("options: {}", e.reason)))?;
    let unknown: Vec<&String> = keys
        .iter()
        .filter(|k| !CLIENT_OPTIONS.iter().any(|(name, _)| name == k))
        .collect();
    if let Some(key) = unknown.first() {
        let known: Vec<&str> = CLIENT_OPTIONS.iter().map(|(name, _)| *name).collect();
        if let Some(meant) = near_miss(key, &known) {
            return Err(config_error(format!(
                "new Client(options): unknown option `{key}`; did you mean `{meant}`?"
            )));
        }
        let listed = unknown
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let options_help = CLIENT_OPTIONS
            .iter()
            .map(|(name, takes)| format!("`{name}` ({takes})"))
            .collect::<Vec<_>>()
            .join(" and ");
        let hint = if !keys.iter().any(|k| k == "config") && is_config_document(env, &options) {
            format!("this looks like a config document: pass it as `new Client({{ config: document }})`. The options are {options_help}")
        } else {
            format!("the options are {options_help}; a config document goes in `config`: `new Client({{ config: {{ providers, routes, ... }} }})`")
        };
        return Err(config_error(format!(
            "new Client(options): unknown option{} {listed}: {hint}",
            if unknown.len() > 1 { "s" } else { "" }
        )));
    }
    let get = |key: &str| {
        object
            .get::<Unknown>(key)
            .map_err(|e| config_error(format!("option `{key}`: {}", e.reason)))
    };
    Ok(ClientArgs {
        config: get("config")?,
        on_usage: get("onUsage")?,
    })
}

/// Whether `value` (an object of plain data) parses as a config document.
fn is_config_document(env: &Env, value: &Unknown) -> bool {
    crate::json::to_value(env, *value, "options")
        .ok()
        .is_some_and(|doc| core::Config::from_value(doc).is_ok())
}

fn invalid(message: String) -> core::Error {
    core::Error::invalid_request(message)
}

/// Reads the argument of `complete()` / `stream()` as the one options object they take; `second`
/// is a second argument, which is only ever a mistake (Python's `complete(model, prompt)`).
pub(crate) fn call_object<'a>(
    env: &Env,
    method: &str,
    options: Option<Unknown<'a>>,
    second: Option<Unknown<'a>>,
) -> std::result::Result<Object<'a>, core::Error> {
    let usage = format!("`{method}({{ model, messages | prompt, ...parameters }})`");
    let Some(options) = options else {
        return Err(invalid(format!(
            "{method}(): expected an options object: {usage}"
        )));
    };
    let ty = value_type(&options).map_err(invalid)?;
    if ty == ValueType::String {
        let model = string(env, &options).map_err(invalid)?;
        let input = match second {
            Some(s) if value_type(&s) == Ok(ValueType::String) => {
                format!("prompt: {}", quoted(&string(env, &s).map_err(invalid)?))
            }
            Some(s) if s.is_array().unwrap_or(false) => "messages: [...]".to_string(),
            _ => "prompt: '...'".to_string(),
        };
        return Err(invalid(format!(
            "{method}({model}, ...): takes one options object, not positional arguments: write `client.{method}({{ model: {model}, {input} }})`",
            model = quoted(&model)
        )));
    }
    if ty != ValueType::Object || options.is_array().unwrap_or(false) {
        return Err(invalid(format!(
            "{method}(): expected an options object {usage}, got {}",
            describe(&options, ty)
        )));
    }
    if second.is_some_and(|s| !matches!(value_type(&s), Ok(ValueType::Undefined))) {
        return Err(invalid(format!(
            "{method}(): takes one options object and nothing after it: put every parameter in it, {usage}"
        )));
    }
    object(env, &options).map_err(invalid)
}

/// An error for a call option that is a near miss of one the binding reads (`message`,
/// `promt`, `Model`), before the core sees it as an unknown parameter.
pub(crate) fn check_call_key(key: &str) -> std::result::Result<(), core::Error> {
    match near_miss(key, CALL_OPTIONS) {
        Some(meant) => Err(invalid(format!(
            "unknown option `{key}`; did you mean `{meant}`?"
        ))),
        None => Ok(()),
    }
}

/// The known name `key` is a likely misspelling of: the same once case, `_` and `-` are ignored,
/// or (names of 5+ letters) at most two edits away. `None` for an exact match.
fn near_miss<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let k = norm(key);
    known.iter().copied().find(|name| {
        let n = norm(name);
        *name != key && (n == k || (n.len() >= 5 && edit_distance(&n, &k) <= 2))
    })
}

/// Levenshtein distance (option names are a few ASCII letters; no crate needed for that).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn value_type(value: &Unknown) -> std::result::Result<ValueType, String> {
    value.get_type().map_err(|e| e.reason)
}

fn string(env: &Env, value: &Unknown) -> std::result::Result<String, String> {
    unsafe { String::from_napi_value(env.raw(), value.raw()) }.map_err(|e| e.reason)
}

fn object<'a>(env: &Env, value: &Unknown<'a>) -> std::result::Result<Object<'a>, String> {
    unsafe { Object::from_napi_value(env.raw(), value.raw()) }.map_err(|e| e.reason)
}

/// A string as JS source (JSON quoting), shortened past 60 characters.
fn quoted(s: &str) -> String {
    let short: String = s.chars().take(60).collect();
    let text = if short.len() < s.len() {
        format!("{short}...")
    } else {
        short
    };
    serde_json::to_string(&text).unwrap_or_default()
}

/// What a value is, for messages ("a number", "an array").
pub(crate) fn describe(value: &Unknown, ty: ValueType) -> &'static str {
    if ty == ValueType::Object && value.is_array().unwrap_or(false) {
        return "an array";
    }
    type_name(ty)
}

pub(crate) fn type_name(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        ValueType::BigInt => "a bigint",
        _ => "an unsupported value",
    }
}
