//! Provider-agnostic answer content: the deterministic answer text, how it is split into stream
//! chunks, which tool calls to make and how their arguments are split into fragments, token
//! counting (with the script's overrides) and unique ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::script::Script;

/// Arguments of a scripted tool call when `tool_args` is not given.
pub const DEFAULT_TOOL_ARGS: &str = r#"{"city":"Paris","unit":"celsius"}"#;

/// Size of a streamed tool-argument fragment when `chunks` is not given (the real API sends
/// fragments of a token or so: `{"ci`, `ty": `, `"Edinb`).
pub const TOOL_FRAGMENT_CHARS: usize = 5;

/// The answer text: `text=...` (or the `refusal=...` text, which excludes it), else `words=N`
/// (`w1 w2 … wN`), else `Mock answer from <model>: <last user text>` (`Mock answer from <model>.`
/// without user text).
pub fn text(script: &Script, model: &str, last_user_text: &str) -> String {
    if let Some(text) = script.text.as_ref().or(script.refusal.as_ref()) {
        return text.clone();
    }
    if let Some(n) = script.words {
        return (1..=n)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
    }
    let user = last_user_text.trim();
    if user.is_empty() {
        format!("Mock answer from {model}.")
    } else {
        format!("Mock answer from {model}: {user}")
    }
}

/// Whitespace-separated words: the mock's token count.
pub fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Splits `text` into stream chunks that concatenate back to it. Default: one chunk per word,
/// each word carrying the whitespace before it (`"Mock"`, `" answer"`, …), as the real API does.
/// With `chunks=N`: N chunks, grouping whole words evenly when there are at least N words, else
/// splitting the characters evenly (never more chunks than characters, never an empty chunk).
pub fn split_text(text: &str, chunks: Option<usize>) -> Vec<String> {
    let words = word_pieces(text);
    match chunks {
        None => words,
        Some(n) if n <= words.len() => group_evenly(&words, n),
        Some(n) => {
            let chars: Vec<String> = text.chars().map(String::from).collect();
            group_evenly(&chars, n.min(chars.len()))
        }
    }
}

/// Splits tool-call arguments into stream fragments: `chunks=N` fragments, else pieces of
/// [`TOOL_FRAGMENT_CHARS`] characters.
pub fn split_fragments(arguments: &str, chunks: Option<usize>) -> Vec<String> {
    let chars: Vec<String> = arguments.chars().map(String::from).collect();
    match chunks {
        Some(n) => group_evenly(&chars, n.min(chars.len())),
        None => chars
            .chunks(TOOL_FRAGMENT_CHARS)
            .map(|c| c.concat())
            .collect(),
    }
}

/// One scripted tool call, before a wire format gives it an id and a shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCall {
    pub name: String,
    /// The arguments as a JSON text (`tool_args`, sent as given: it may be invalid on purpose).
    pub arguments: String,
}

/// The scripted tool calls, if any: `tool_call=a,b` names them, `tools=1` calls the request's own
/// tools (`requested`, in order); `tool_calls=N` sets how many (default: as many names as given,
/// else 1). Call i is named by the i-th explicit name, else the i-th request tool, else the first
/// name.
pub fn planned_calls(script: &Script, requested: &[String]) -> Option<Vec<PlannedCall>> {
    let names: Vec<String> = match &script.tool_call {
        Some(names) => names.clone(),
        None if script.tools && !requested.is_empty() => vec![requested[0].clone()],
        None => return None,
    };
    let count = script
        .tool_calls
        .unwrap_or(script.tool_call.as_ref().map_or(1, Vec::len));
    let arguments = script
        .tool_args
        .clone()
        .unwrap_or_else(|| DEFAULT_TOOL_ARGS.to_owned());
    Some(
        (0..count)
            .map(|i| PlannedCall {
                name: names
                    .get(i)
                    .or_else(|| requested.get(i))
                    .unwrap_or(&names[0])
                    .clone(),
                arguments: arguments.clone(),
            })
            .collect(),
    )
}

/// Provider-neutral token counts, each format maps them to its own usage fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tokens {
    /// All prompt tokens, cached ones included.
    pub prompt: u64,
    /// All completion tokens, reasoning ones included.
    pub completion: u64,
    /// Prompt tokens read from the cache (a subset of `prompt`).
    pub cached: u64,
    /// Prompt tokens written to the cache (`cache_write_tokens`, a subset of `prompt` too; 0
    /// unless scripted).
    pub cache_write: u64,
    /// Reasoning tokens (a subset of `completion`).
    pub reasoning: u64,
}

impl Tokens {
    /// Counted tokens with the script's overrides: `prompt_tokens`/`completion_tokens` replace the
    /// counts; the computed prompt is raised to at least `cached_tokens` + `cache_write_tokens`;
    /// `reasoning_tokens` are
    /// added to the computed completion.
    pub fn new(script: &Script, prompt: u64, completion: u64) -> Tokens {
        let cached = script.cached_tokens.unwrap_or(0);
        let cache_write = script.cache_write_tokens.unwrap_or(0);
        let reasoning = script.reasoning_tokens.unwrap_or(0);
        Tokens {
            prompt: script
                .prompt_tokens
                .unwrap_or(prompt.max(cached + cache_write)),
            completion: script.completion_tokens.unwrap_or(completion + reasoning),
            cached,
            cache_write,
            reasoning,
        }
    }

    /// Completion tokens of an answer: the words of `text`, or the tool-call tokens.
    pub fn completion_of(calls: Option<&[PlannedCall]>, text: &str) -> u64 {
        match calls {
            Some(calls) => calls.iter().map(|c| tool_call_tokens(&c.arguments)).sum(),
            None => count_words(text),
        }
    }

    pub fn total(&self) -> u64 {
        self.prompt + self.completion
    }
}

/// Completion tokens of a tool call: its argument length / 4, rounded up, at least 1.
pub fn tool_call_tokens(arguments: &str) -> u64 {
    (arguments.chars().count() as u64).div_ceil(4).max(1)
}

fn word_pieces(text: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_ws = false;
    for c in text.chars() {
        let ws = c.is_whitespace();
        // A whitespace run after a word starts the next piece.
        if ws && !prev_ws && current.chars().any(|c| !c.is_whitespace()) {
            pieces.push(std::mem::take(&mut current));
        }
        current.push(c);
        prev_ws = ws;
    }
    match pieces.last_mut() {
        // Trailing whitespace stays with the last word rather than making a blank chunk.
        Some(last) if current.chars().all(char::is_whitespace) => last.push_str(&current),
        _ if !current.is_empty() => pieces.push(current),
        _ => {}
    }
    pieces
}

fn group_evenly(items: &[String], groups: usize) -> Vec<String> {
    if groups == 0 {
        return Vec::new();
    }
    let base = items.len() / groups;
    let extra = items.len() % groups;
    let mut out = Vec::with_capacity(groups);
    let mut start = 0;
    for g in 0..groups {
        let len = base + usize::from(g < extra);
        out.push(items[start..start + len].concat());
        start += len;
    }
    out
}

/// Seconds since the epoch, for `created` fields.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A source of unique, unpredictable-looking ids (`chatcmpl-…`, `call_…`, `req_…`).
pub struct Ids {
    state: u64,
}

impl Ids {
    /// A fresh generator, distinct from every other one in this process.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Ids {
            state: nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id()),
        }
    }

    /// splitmix64.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` random characters from `[A-Za-z0-9]`.
    pub fn alnum(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[(self.next_u64() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    /// `len` random lowercase hex digits.
    pub fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit((self.next_u64() % 16) as u32, 16).unwrap_or('0'))
            .collect()
    }
}

impl Default for Ids {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_chunks_keep_spaces() {
        assert_eq!(
            split_text("I'm unable to  help.", None),
            vec!["I'm", " unable", " to", "  help."]
        );
        assert_eq!(split_text(" lead", None), vec![" lead"]);
        assert_eq!(split_text("a b ", None), vec!["a", " b "]);
        assert!(split_text("", None).is_empty());
    }

    #[test]
    fn chunk_counts() {
        let t = "w1 w2 w3 w4 w5";
        let c = split_text(t, Some(2));
        assert_eq!(c, vec!["w1 w2 w3", " w4 w5"]);
        assert_eq!(split_text(t, Some(5)).len(), 5);
        let c = split_text("abc de", Some(4));
        assert_eq!(c.len(), 4);
        assert_eq!(c.concat(), "abc de");
        assert_eq!(split_text("ab", Some(9)), vec!["a", "b"]);
    }

    #[test]
    fn fragments_and_tokens() {
        let f = split_fragments(DEFAULT_TOOL_ARGS, None);
        assert!(f.iter().all(|p| p.chars().count() <= TOOL_FRAGMENT_CHARS));
        assert_eq!(f.concat(), DEFAULT_TOOL_ARGS);
        assert_eq!(split_fragments("{}", Some(3)), vec!["{", "}"]);
        assert_eq!(tool_call_tokens(""), 1);
        assert_eq!(tool_call_tokens("12345"), 2);
    }

    #[test]
    fn default_texts() {
        let s = Script::default();
        assert_eq!(text(&s, "m", " hi there "), "Mock answer from m: hi there");
        assert_eq!(text(&s, "m", ""), "Mock answer from m.");
        let s = Script {
            words: Some(3),
            ..Script::default()
        };
        assert_eq!(text(&s, "m", "x"), "w1 w2 w3");
    }

    #[test]
    fn ids_differ() {
        let (mut a, mut b) = (Ids::new(), Ids::new());
        assert_ne!(a.alnum(29), b.alnum(29));
        assert_eq!(a.hex(8).len(), 8);
    }
}
