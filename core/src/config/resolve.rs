//! Resolving the document into providers: every provider the config names (an entry whose name
//! is a built-in merges with that built-in's defaults: format, base URL, key variables), plus the
//! built-ins whose environment variables are set (`env_providers`), plus `mock`.
//!
//! Precedence for a field: the document's value, then the environment (`api_key_env`, the
//! built-in's key variables; `<NAME>_BASE_URL`, the SDK's base-URL variable), then the built-in's
//! default.
use std::collections::BTreeMap;
use std::sync::Arc;

use super::builtin::{builtin, official, Builtin, BUILTINS};
use super::{Config, ProviderConfig, Secret, WireFormat};
use crate::providers::{anthropic, gemini, mistral, mock, openai, Provider};
use crate::types::error::{Error, Result};

/// Environment lookup (the process environment, or a test's own).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Builds every provider the config names, plus the built-ins whose keys are set.
pub(crate) fn build_providers(
    config: &Config,
    http: &reqwest::Client,
    env: Env<'_>,
) -> Result<BTreeMap<String, Arc<dyn Provider>>> {
    let mut out: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    out.insert(
        "mock".into(),
        Arc::new(mock::MockProvider::new("mock", config.mock.models.clone())),
    );
    if config.env_providers {
        for b in BUILTINS {
            if config.providers.contains_key(b.name) {
                continue;
            }
            let key = b.key_from(env);
            let base_url = b.base_url_from(env);
            if key.is_none() && !(b.keyless && base_url.is_some()) {
                continue;
            }
            let pc = ProviderConfig {
                format: Some(b.format),
                base_url: Some(base_url.unwrap_or_else(|| b.base_url.to_string())),
                api_key: key.map(Secret::new),
                limits: config.policy.limits,
                ..ProviderConfig::default()
            };
            out.insert(b.name.to_string(), provider(b.name, &pc, http, config)?);
        }
    }
    for (name, pc) in &config.providers {
        let mut pc = resolve(name, pc, env)?;
        pc.limits = config.policy.limits;
        out.insert(name.clone(), provider(name, &pc, http, config)?);
    }
    Ok(out)
}

/// One configured entry with its gaps filled from the environment and the built-in table.
fn resolve(name: &str, pc: &ProviderConfig, env: Env<'_>) -> Result<ProviderConfig> {
    let named = builtin(name);
    let format = match (pc.format, named) {
        (Some(f), _) => f,
        (None, Some(b)) => b.format,
        (None, None) => {
            return Err(Error::config(format!(
            "config key `providers.{name}.format`: required for a provider that is not built in \
                 (expected one of openai, anthropic, gemini, mistral, mock; built-in names: {})",
            BUILTINS
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>()
                .join(", ")
        )))
        }
    };
    // The built-in whose defaults apply: the one of this name when it speaks this format, else the
    // format's official endpoint (a native format has exactly one).
    let defaults: Option<&Builtin> = named.filter(|b| b.format == format).or(official(format));
    let mut pc = pc.clone();
    pc.format = Some(format);
    if pc.base_url.is_none() {
        pc.base_url = named
            .filter(|b| b.format == format)
            .and_then(|b| b.base_url_from(env))
            .or_else(|| defaults.map(|b| b.base_url.to_string()));
    }
    if pc.api_key.is_none() {
        pc.api_key = match &pc.api_key_env {
            Some(var) => env(var).filter(|k| !k.is_empty()),
            None => defaults.and_then(|b| b.key_from(env)),
        }
        .map(Secret::new);
    }
    if pc.base_url.is_none() && format != WireFormat::Mock {
        return Err(Error::config(format!(
            "config key `providers.{name}.base_url`: required for a provider that is not built in"
        )));
    }
    Ok(pc)
}

/// The provider for a resolved entry.
fn provider(
    name: &str,
    pc: &ProviderConfig,
    http: &reqwest::Client,
    config: &Config,
) -> Result<Arc<dyn Provider>> {
    Ok(match pc.format.unwrap_or(WireFormat::Openai) {
        WireFormat::Openai => Arc::new(openai::OpenAiProvider::new(name, pc, http.clone())?),
        WireFormat::Anthropic => {
            Arc::new(anthropic::AnthropicProvider::new(name, pc, http.clone())?)
        }
        WireFormat::Gemini => Arc::new(gemini::GeminiProvider::new(name, pc, http.clone())?),
        WireFormat::Mistral => Arc::new(mistral::MistralProvider::new(name, pc, http.clone())?),
        WireFormat::Mock => Arc::new(mock::MockProvider::new(name, config.mock.models.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(v: &str) -> Option<String> {
        match v {
            "OPENAI_API_KEY" => Some("sk-env".into()),
            "OPENAI_BASE_URL" => Some("http://gateway.local/v1".into()),
            _ => None,
        }
    }

    #[test]
    fn a_builtin_entry_merges_with_its_defaults() {
        let c =
            Config::from_value(json!({"providers": {"openai": {"base_url": "http://proxy/v1"}}}))
                .unwrap();
        let pc = resolve("openai", &c.providers["openai"], &env).unwrap();
        assert_eq!(pc.format, Some(WireFormat::Openai));
        assert_eq!(pc.base_url.as_deref(), Some("http://proxy/v1"));
        assert_eq!(pc.api_key.as_ref().map(|k| k.expose()), Some("sk-env"));
        // No base URL in the document: the environment's, as the official SDK reads it.
        let c = Config::from_value(json!({"providers": {"openai": {}}})).unwrap();
        let pc = resolve("openai", &c.providers["openai"], &env).unwrap();
        assert_eq!(pc.base_url.as_deref(), Some("http://gateway.local/v1"));
        // A native format keeps its official endpoint.
        let c =
            Config::from_value(json!({"providers": {"claude": {"format": "anthropic"}}})).unwrap();
        let pc = resolve("claude", &c.providers["claude"], &env).unwrap();
        assert_eq!(pc.base_url.as_deref(), Some("https://api.anthropic.com/v1"));
    }

    #[test]
    fn an_unknown_name_needs_a_format() {
        let e = Config::from_value(json!({"providers": {"local": {"base_url": "http://x/v1"}}}))
            .unwrap_err();
        assert!(
            e.message.contains("providers.local.format"),
            "{}",
            e.message
        );
        let pc = ProviderConfig {
            base_url: Some("http://x/v1".into()),
            ..ProviderConfig::default()
        };
        let e = resolve("local", &pc, &env).unwrap_err();
        assert!(
            e.message.contains("providers.local.format"),
            "{}",
            e.message
        );
    }
}
