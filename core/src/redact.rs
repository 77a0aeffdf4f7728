//! Scrubbing secrets out of every string that leaves the core (error messages, provider codes,
//! request ids, attempt and usage-event messages).
//!
//! The secrets of a provider are its API key and the values of its configured headers whose
//! names say they carry a credential (`authorization`, `*key*`, `*token*`, `*secret*`, `cookie`,
//! ...). Providers echo keys back ("Incorrect API key provided: <key>", in full for short keys,
//! masked like `sk-abc***xyz` for long ones, sometimes upper-cased): the key is removed wherever
//! it appears, case-insensitively, and so is any token that is a long fragment of it or a masked
//! form of it.
//!
//! What cannot be a secret is left alone: a value shorter than [`MIN_SECRET`] characters (a
//! placeholder like `none` or `x`) is never redacted, so that it does not mangle unrelated words.

const REDACTED: &str = "[REDACTED]";

/// The shortest value treated as a secret.
pub(crate) const MIN_SECRET: usize = 8;

/// Header names whose values are credentials.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "key",
    "token",
    "secret",
    "cookie",
    "password",
    "signature",
    "credential",
];

/// The secrets of one provider.
#[derive(Clone, Debug, Default)]
pub(crate) struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// The provider's key and the values of its credential headers.
    pub(crate) fn of<'a>(
        api_key: Option<&str>,
        headers: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Secrets {
        let mut s = Secrets::default();
        if let Some(k) = api_key {
            s.add(k);
        }
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if CREDENTIAL_HEADERS.iter().any(|c| name.contains(c)) {
                // `Bearer <token>`: the token is the secret.
                let v = value.trim();
                s.add(v.strip_prefix("Bearer ").unwrap_or(v));
            }
        }
        s
    }

    fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.chars().count() >= MIN_SECRET && !self.values.iter().any(|v| v == secret) {
            self.values.push(secret.to_string());
        }
    }

    /// `text` with every secret removed.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.values {
            out = redact(&out, s);
        }
        out
    }

    pub(crate) fn scrub_opt(&self, text: Option<String>) -> Option<String> {
        text.map(|t| self.scrub(&t))
    }
}

/// Returns `text` with every trace of `secret` replaced by `[REDACTED]` (nothing for a secret
/// shorter than [`MIN_SECRET`]).
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.chars().count() < MIN_SECRET {
        return text.to_string();
    }
    let mut out = replace_ignore_case(text, secret);
    // Tokens that are fragments of the key (prefix/suffix runs), or masked forms of it.
    let tokens: Vec<String> = out
        .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '(' | ')' | '`'))
        .map(|t| t.trim_end_matches(['.', ':', ';']).to_string())
        .filter(|t| !t.is_empty() && !t.contains(REDACTED))
        .collect();
    let lower_secret = secret.to_lowercase();
    for t in tokens {
        if looks_like_key_fragment(&t.to_lowercase(), &lower_secret) {
            out = out.replace(&t, REDACTED);
        }
    }
    out
}

/// `text` with every occurrence of `needle` (ASCII case-insensitively) replaced.
fn replace_ignore_case(text: &str, needle: &str) -> String {
    let hay = text.to_ascii_lowercase();
    let pat = needle.to_ascii_lowercase();
    if pat.is_empty() || hay.len() != text.len() {
        return text.replace(needle, REDACTED);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in hay.match_indices(&pat) {
        if i < last {
            continue;
        }
        out.push_str(&text[last..i]);
        out.push_str(REDACTED);
        last = i + pat.len();
    }
    out.push_str(&text[last..]);
    out
}

fn looks_like_key_fragment(token: &str, secret: &str) -> bool {
    if token.contains('*') {
        // Masked: what is left around the stars must come from the key, and be long enough
        // not to be a coincidence.
        let visible: Vec<&str> = token.split('*').filter(|s| !s.is_empty()).collect();
        return !visible.is_empty()
            && visible.iter().map(|v| v.len()).sum::<usize>() >= 4
            && visible.iter().all(|v| v.len() >= 2 && secret.contains(v));
    }
    token.len() >= MIN_SECRET && (secret.contains(token) || token.contains(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_short_masked_and_upper_cased_keys_are_removed() {
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
        let upper = format!("INVALID KEY {}", key.to_uppercase());
        let r = redact(&upper, key);
        assert!(!r.to_lowercase().contains("1234567890abcdef"), "{r}");
    }

    #[test]
    fn placeholders_and_unrelated_text_are_kept() {
        let r = redact(
            "Rate limit reached for gpt-4o in organization org-x.",
            "sk-abcdef123456",
        );
        assert_eq!(r, "Rate limit reached for gpt-4o in organization org-x.");
        // A placeholder key cannot be a secret: words that contain it stay whole.
        for key in ["none", "x", "ma", "test"] {
            let msg = "None of the messages may exceed max_tokens; x is not a number";
            assert_eq!(redact(msg, key), msg, "{key}");
        }
    }

    #[test]
    fn credential_headers_are_secrets_others_are_not() {
        let headers = [
            ("X-Gateway-Key".to_string(), "gw-9f8e7d6c5b4a".to_string()),
            (
                "Authorization".to_string(),
                "Bearer tok-1234567890".to_string(),
            ),
            ("X-Title".to_string(), "my application name".to_string()),
        ];
        let s = Secrets::of(
            Some("sk-live-abcdefgh"),
            headers.iter().map(|(k, v)| (k, v)),
        );
        let r = s
            .scrub("keys gw-9f8e7d6c5b4a tok-1234567890 SK-LIVE-ABCDEFGH from my application name");
        assert_eq!(
            r,
            "keys [REDACTED] [REDACTED] [REDACTED] from my application name"
        );
    }
}
