//! Scrubbing API keys out of text that may reach an error, a log line or a repr.
//!
//! Providers echo keys back in error messages: OpenAI's 401 says "Incorrect API key provided:
//! <key>" (in full for short keys, masked like `sk-abc***xyz` for long ones). We remove the key
//! itself, and any token that shares a long enough run with it or looks like a masked key.

const REDACTED: &str = "[REDACTED]";

/// Returns `text` with every trace of `secret` replaced by `[REDACTED]`.
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let mut out = text.replace(secret, REDACTED);
    // Tokens that are fragments of the key (prefix/suffix runs), or masked forms of it.
    let tokens: Vec<String> = out
        .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '(' | ')' | '`'))
        .map(|t| t.trim_end_matches(['.', ':', ';']).to_string())
        .filter(|t| !t.is_empty() && t != REDACTED)
        .collect();
    for t in tokens {
        if looks_like_key_fragment(&t, secret) {
            out = out.replace(&t, REDACTED);
        }
    }
    out
}

fn looks_like_key_fragment(token: &str, secret: &str) -> bool {
    let min_run = 4.min(secret.len());
    if token.contains('*') {
        // Masked: what is left around the stars must come from the key.
        let visible: Vec<&str> = token.split('*').filter(|s| !s.is_empty()).collect();
        return !visible.is_empty() && visible.iter().all(|v| v.len() >= 2 && secret.contains(v));
    }
    token.len() >= min_run && (secret.contains(token) || token.contains(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_short_and_masked_keys_are_removed() {
        let key = "sk-bad-1234567890abcdef";
        let msg = format!(
            "Incorrect API key provided: {key}. You can find your API key at https://x/keys."
        );
        let r = redact(&msg, key);
        assert!(!r.contains("1234567890"), "{r}");
        assert!(r.contains("[REDACTED]"));
        let masked = "Incorrect API key provided: sk-bad-********cdef.";
        let r = redact(masked, key);
        assert!(!r.contains("cdef"), "{r}");
        assert_eq!(
            redact("Incorrect API key provided: kk.", "kk"),
            "Incorrect API key provided: [REDACTED]."
        );
    }

    #[test]
    fn unrelated_text_is_kept() {
        let r = redact(
            "Rate limit reached for gpt-4o in organization org-x.",
            "sk-abcdef123456",
        );
        assert_eq!(r, "Rate limit reached for gpt-4o in organization org-x.");
    }
}
