//! The built-in providers: well-known endpoints registered from their usual environment keys.
use super::WireFormat;

/// Built-in OpenAI-format providers: (name, base URL, key variable).
pub(crate) const BUILTIN_OPENAI: &[(&str, &str, &str)] = &[
    ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    (
        "openrouter",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
    ),
    ("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    (
        "together",
        "https://api.together.xyz/v1",
        "TOGETHER_API_KEY",
    ),
    (
        "deepseek",
        "https://api.deepseek.com/v1",
        "DEEPSEEK_API_KEY",
    ),
    ("xai", "https://api.x.ai/v1", "XAI_API_KEY"),
    ("ollama", "http://localhost:11434/v1", "OLLAMA_API_KEY"),
];

/// Built-in providers with their own wire format: (name, format, base URL, key variables in order).
/// Models are `anthropic/...`, `google/...`, `mistral/...`.
pub(crate) const BUILTIN_NATIVE: &[(&str, WireFormat, &str, &[&str])] = &[
    (
        "anthropic",
        WireFormat::Anthropic,
        "https://api.anthropic.com/v1",
        &["ANTHROPIC_API_KEY"],
    ),
    (
        "google",
        WireFormat::Gemini,
        "https://generativelanguage.googleapis.com/v1beta",
        &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    ),
    (
        "mistral",
        WireFormat::Mistral,
        "https://api.mistral.ai/v1",
        &["MISTRAL_API_KEY"],
    ),
];

pub(super) fn is_builtin(name: &str) -> bool {
    BUILTIN_OPENAI.iter().any(|(n, _, _)| *n == name)
}
