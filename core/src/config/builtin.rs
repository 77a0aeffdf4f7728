//! The built-in providers, one table: well-known endpoints, registered from their usual
//! environment variables (keys and base URLs, read the way the official SDKs read them).
use super::WireFormat;

/// One built-in provider.
pub(crate) struct Builtin {
    /// The name models are addressed by (`openai/...`).
    pub name: &'static str,
    pub format: WireFormat,
    /// The official base URL, version path included.
    pub base_url: &'static str,
    /// Key variables, in order: the first one set wins.
    pub key_vars: &'static [&'static str],
    /// Base-URL variables of the provider's own SDK, with the path that SDK appends to them
    /// (e.g. `ANTHROPIC_BASE_URL=https://api.anthropic.com` means `.../v1`); read before
    /// polyfuse's own `<NAME>_BASE_URL` (a full base URL, e.g. `OPENAI_BASE_URL`).
    pub sdk_base_url_vars: &'static [(&'static str, &'static str)],
    /// Registered from the environment even without a key (a local server), once a base URL
    /// variable is set.
    pub keyless: bool,
}

/// Every built-in provider.
pub(crate) const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "openai",
        format: WireFormat::Openai,
        base_url: "https://api.openai.com/v1",
        key_vars: &["OPENAI_API_KEY"],
        sdk_base_url_vars: &[],
        keyless: false,
    },
    Builtin {
        name: "anthropic",
        format: WireFormat::Anthropic,
        base_url: "https://api.anthropic.com/v1",
        key_vars: &["ANTHROPIC_API_KEY"],
        sdk_base_url_vars: &[("ANTHROPIC_BASE_URL", "/v1")],
        keyless: false,
    },
    Builtin {
        name: "google",
        format: WireFormat::Gemini,
        base_url: "https://generativelanguage.googleapis.com/v1beta",
        key_vars: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        sdk_base_url_vars: &[("GOOGLE_GEMINI_BASE_URL", "/v1beta")],
        keyless: false,
    },
    Builtin {
        name: "mistral",
        format: WireFormat::Mistral,
        base_url: "https://api.mistral.ai/v1",
        key_vars: &["MISTRAL_API_KEY"],
        sdk_base_url_vars: &[],
        keyless: false,
    },
    Builtin {
        name: "openrouter",
        format: WireFormat::Openai,
        base_url: "https://openrouter.ai/api/v1",
        key_vars: &["OPENROUTER_API_KEY"],
        sdk_base_url_vars: &[],
        keyless: false,
    },
    Builtin {
        name: "groq",
        format: WireFormat::Openai,
        base_url: "https://api.groq.com/openai/v1",
        key_vars: &["GROQ_API_KEY"],
        sdk_base_url_vars: &[],
        keyless: false,
    },
    Builtin {
        name: "together",
        format: WireFormat::Openai,
        base_url: "https://api.together.xyz/v1",
        key_vars: &["TOGETHER_API_KEY"],
        sdk_base_url_vars: &[],
        keyless: false,
    },
    Builtin {
        name: "deepseek",
        format: WireFormat::Openai,
        base_url: "https://api.deepseek.com/v1",
        key_vars: &["DEEPSEEK_API_KEY"],
        sdk_base_url_vars: &[],
        keyless: false,
    },
    Builtin {
        name: "xai",
        format: WireFormat::Openai,
        base_url: "https://api.x.ai/v1",
        key_vars: &["XAI_API_KEY"],
        sdk_base_url_vars: &[],
        keyless: false,
    },
    Builtin {
        name: "ollama",
        format: WireFormat::Openai,
        base_url: "http://localhost:11434/v1",
        key_vars: &["OLLAMA_API_KEY"],
        sdk_base_url_vars: &[("OLLAMA_HOST", "/v1")],
        keyless: true,
    },
];

/// The built-in provider of this name.
pub(crate) fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The official endpoint of a wire format (a provider of that format without a `base_url`).
pub(crate) fn official(format: WireFormat) -> Option<&'static Builtin> {
    match format {
        WireFormat::Anthropic | WireFormat::Gemini | WireFormat::Mistral => {
            BUILTINS.iter().find(|b| b.format == format)
        }
        WireFormat::Openai | WireFormat::Mock => None,
    }
}

impl Builtin {
    /// The first key variable that is set (and not empty).
    pub(crate) fn key_from(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        self.key_vars
            .iter()
            .find_map(|v| env(v).filter(|k| !k.is_empty()))
    }

    /// The base URL the environment asks for: the SDK's own variable with the path that SDK
    /// appends (unless the value already ends with it), else `<NAME>_BASE_URL` as a full URL.
    pub(crate) fn base_url_from(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let sdk = self.sdk_base_url_vars.iter().find_map(|(var, suffix)| {
            let raw = env(var).filter(|u| !u.trim().is_empty())?;
            let mut url = raw.trim().trim_end_matches('/').to_string();
            if !url.contains("://") {
                url = format!("http://{url}"); // OLLAMA_HOST is often `host:port`
            }
            if !url.ends_with(suffix) {
                url.push_str(suffix);
            }
            Some(url)
        });
        sdk.or_else(|| {
            let own = format!("{}_BASE_URL", self.name.to_ascii_uppercase());
            env(&own)
                .filter(|u| !u.trim().is_empty())
                .map(|u| u.trim().trim_end_matches('/').to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_base_url_variables_get_the_sdk_path() {
        let env = |v: &str| match v {
            "ANTHROPIC_BASE_URL" => Some("https://proxy.example/".to_string()),
            "OLLAMA_HOST" => Some("10.0.0.2:11434".to_string()),
            "OPENAI_BASE_URL" => Some("http://localhost:8080/v1/".to_string()),
            _ => None,
        };
        let url = |n: &str| builtin(n).and_then(|b| b.base_url_from(&env));
        assert_eq!(
            url("anthropic").as_deref(),
            Some("https://proxy.example/v1")
        );
        assert_eq!(url("ollama").as_deref(), Some("http://10.0.0.2:11434/v1"));
        assert_eq!(url("openai").as_deref(), Some("http://localhost:8080/v1"));
        assert_eq!(url("google"), None);
    }
}
