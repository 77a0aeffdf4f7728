//! Resolving the document into providers: every provider the config names (merged with the
//! built-in table where the name is a built-in), plus the built-ins whose environment keys are set,
//! plus `mock`.
use std::collections::BTreeMap;
use std::sync::Arc;

use super::builtin::{BUILTIN_NATIVE, BUILTIN_OPENAI};
use super::{Config, ProviderConfig, Secret, WireFormat};
use crate::providers::{anthropic, gemini, mistral, mock, openai, Provider};
use crate::types::error::{Error, Result};

/// Builds every provider the config names, plus the built-ins whose keys are set.
pub(crate) fn build_providers(
    config: &Config,
    http: &reqwest::Client,
) -> Result<BTreeMap<String, Arc<dyn Provider>>> {
    let mut out: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    out.insert(
        "mock".into(),
        Arc::new(mock::MockProvider::new("mock", config.mock.models.clone())),
    );
    if config.env_providers {
        for (name, base, var) in BUILTIN_OPENAI {
            if config.providers.contains_key(*name) {
                continue;
            }
            let key = std::env::var(var).ok().filter(|k| !k.is_empty());
            let base_env = format!("{}_BASE_URL", name.to_uppercase());
            let base_url = std::env::var(&base_env).ok().filter(|b| !b.is_empty());
            if key.is_none() && !(*name == "ollama" && base_url.is_some()) {
                continue;
            }
            let pc = ProviderConfig {
                format: WireFormat::Openai,
                base_url: Some(base_url.unwrap_or_else(|| base.to_string())),
                api_key: key.map(Secret::new),
                api_key_env: None,
                auth_header: None,
                headers: Default::default(),
                query: Default::default(),
                max_tokens_field: None,
            };
            out.insert(
                name.to_string(),
                Arc::new(openai::OpenAiProvider::new(name, &pc, http.clone())?),
            );
        }
    }
    if config.env_providers {
        for (name, format, base, vars) in BUILTIN_NATIVE {
            if config.providers.contains_key(*name) {
                continue;
            }
            let Some(key) = vars
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|k| !k.is_empty()))
            else {
                continue;
            };
            let base_env = format!("{}_BASE_URL", name.to_uppercase());
            let base_url = std::env::var(&base_env)
                .ok()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| base.to_string());
            let pc = ProviderConfig {
                format: *format,
                base_url: Some(base_url),
                api_key: Some(Secret::new(key)),
                api_key_env: None,
                auth_header: None,
                headers: Default::default(),
                query: Default::default(),
                max_tokens_field: None,
            };
            out.insert(name.to_string(), native_provider(name, &pc, http)?);
        }
    }
    for (name, pc) in &config.providers {
        let provider: Arc<dyn Provider> = match pc.format {
            WireFormat::Anthropic | WireFormat::Gemini | WireFormat::Mistral => {
                let mut pc = pc.clone();
                let builtin = BUILTIN_NATIVE.iter().find(|(_, f, _, _)| *f == pc.format);
                if pc.base_url.is_none() {
                    pc.base_url = builtin.map(|(_, _, b, _)| b.to_string());
                }
                if pc.api_key.is_none() {
                    let vars: Vec<String> = match &pc.api_key_env {
                        Some(v) => vec![v.clone()],
                        None => BUILTIN_NATIVE
                            .iter()
                            .find(|(n, _, _, _)| n == name)
                            .map(|(_, _, _, vars)| vars.iter().map(|v| v.to_string()).collect())
                            .unwrap_or_default(),
                    };
                    pc.api_key = vars
                        .iter()
                        .find_map(|v| std::env::var(v).ok().filter(|k| !k.is_empty()))
                        .map(Secret::new);
                }
                native_provider(name, &pc, http)?
            }
            WireFormat::Openai => {
                let mut pc = pc.clone();
                if pc.base_url.is_none() {
                    pc.base_url = BUILTIN_OPENAI
                        .iter()
                        .find(|(n, _, _)| n == name)
                        .map(|(_, b, _)| b.to_string());
                }
                if pc.api_key.is_none() {
                    let var = pc.api_key_env.clone().or_else(|| {
                        BUILTIN_OPENAI
                            .iter()
                            .find(|(n, _, _)| n == name)
                            .map(|(_, _, v)| v.to_string())
                    });
                    pc.api_key = var
                        .and_then(|v| std::env::var(v).ok())
                        .filter(|k| !k.is_empty())
                        .map(Secret::new);
                }
                Arc::new(openai::OpenAiProvider::new(name, &pc, http.clone())?)
            }
            WireFormat::Mock => Arc::new(mock::MockProvider::new(name, config.mock.models.clone())),
        };
        out.insert(name.clone(), provider);
    }
    Ok(out)
}

/// A provider of one of the native (non-OpenAI) wire formats.
fn native_provider(
    name: &str,
    pc: &ProviderConfig,
    http: &reqwest::Client,
) -> Result<Arc<dyn Provider>> {
    Ok(match pc.format {
        WireFormat::Anthropic => {
            Arc::new(anthropic::AnthropicProvider::new(name, pc, http.clone())?)
        }
        WireFormat::Gemini => Arc::new(gemini::GeminiProvider::new(name, pc, http.clone())?),
        WireFormat::Mistral => Arc::new(mistral::MistralProvider::new(name, pc, http.clone())?),
        other => {
            return Err(Error::config(format!(
                "config key `providers.{name}.format`: `{other:?}` is not a native format"
            )))
        }
    })
}
