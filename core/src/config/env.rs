//! `${NAME}` and `${NAME:-default}` expansion in every string of a config document; errors name
//! the key path.
use serde_json::Value;

use crate::types::error::{Error, Result};

/// Expands `${NAME}` / `${NAME:-default}` in every string of the document.
pub(super) fn expand_env(
    v: &mut Value,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    match v {
        Value::String(s) if s.contains("${") => {
            *s = expand_str(s, env)
                .map_err(|msg| Error::config(format!("config key `{}`: {msg}", path.join("."))))?;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(format!("[{i}]"));
                expand_env(item, path, env)?;
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                path.push(k.clone());
                expand_env(item, path, env)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_str(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{s}`"))?;
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`${{{expr}}}` is not a valid environment variable reference"
            ));
        }
        match (env(name), default) {
            (Some(val), _) => out.push_str(&val),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
