//! [`Usage`]: token counts with one meaning for every provider, where they come from
//! ([`UsageSource`]), saturating sums, and polyfuse's estimate for an answer whose provider
//! reported nothing.
use serde::{Deserialize, Serialize};

use crate::providers::Completion;
use crate::types::message::{Content, ContentPart, Message};

/// Where a [`Usage`]'s figures come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// The provider reported them (for a failed attempt: what it had reported before failing).
    Reported,
    /// polyfuse estimated them (about 4 characters per token), because the provider reported
    /// nothing for an answer that completed.
    Estimated,
    /// Nothing was reported for an exchange that may have consumed tokens (a stream cut or
    /// cancelled before its usage arrived): the figures are 0 and mean "unknown", not "none".
    #[default]
    Unknown,
    /// Nothing was consumed: the attempt was rejected or failed before generation began (an
    /// HTTP error status, a refused connection).
    None,
}

impl UsageSource {
    /// Its name, as serialized (`reported`, `estimated`, `unknown`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            UsageSource::Reported => "reported",
            UsageSource::Estimated => "estimated",
            UsageSource::Unknown => "unknown",
            UsageSource::None => "none",
        }
    }

    /// The source of a sum: the least certain of the parts (`unknown` > `estimated` >
    /// `reported` > `none`).
    fn combine(self, other: UsageSource) -> UsageSource {
        fn rank(s: UsageSource) -> u8 {
            match s {
                UsageSource::None => 0,
                UsageSource::Reported => 1,
                UsageSource::Estimated => 2,
                UsageSource::Unknown => 3,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// Token counts with one meaning for every provider. Serialized with the derived `total_tokens`
/// too, so every binding shows the core's figure.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Usage {
    /// All input tokens, cached ones included.
    pub input_tokens: u64,
    /// All output tokens, reasoning included.
    pub output_tokens: u64,
    /// Of `input_tokens`, those read from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Of `input_tokens`, those written to the provider's prompt cache.
    pub cache_write_tokens: u64,
    /// Of `cache_write_tokens`, those written with a 1-hour lifetime (Anthropic prices them
    /// apart from 5-minute writes); 0 where the provider does not say.
    #[serde(default)]
    pub cache_write_1h_tokens: u64,
    /// Of `output_tokens`, those spent on reasoning.
    pub reasoning_tokens: u64,
    /// Cost in USD, when known (reported by the provider or priced); never a made-up 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Where the figures come from.
    #[serde(default)]
    pub source: UsageSource,
}

impl Usage {
    /// Nothing consumed (an attempt rejected before generation): it costs nothing.
    pub fn none() -> Usage {
        Usage {
            source: UsageSource::None,
            cost_usd: Some(0.0),
            ..Usage::default()
        }
    }

    /// Input plus output tokens (saturating).
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Whether the figures mean something (reported or estimated, or known to be none).
    pub fn is_known(&self) -> bool {
        self.source != UsageSource::Unknown
    }

    /// Adds another usage into this one: saturating sums; the cost is known only when both are
    /// (a part of unknown cost makes the sum unknown, never an undercount); the source becomes
    /// the least certain of the two.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.cache_write_1h_tokens = self
            .cache_write_1h_tokens
            .saturating_add(other.cache_write_1h_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(other.reasoning_tokens);
        self.cost_usd = match (self.cost_usd, other.cost_usd) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self.source = self.source.combine(other.source);
    }

    /// polyfuse's estimate for a completed answer its provider reported no usage for: about 4
    /// characters per token, plus 4 tokens of framing per message.
    pub fn estimate(messages: &[Message], c: &Completion) -> Usage {
        let input: usize = messages
            .iter()
            .map(|m| {
                let chars = match &m.content {
                    Some(Content::Text(t)) => t.len(),
                    Some(Content::Parts(parts)) => parts
                        .iter()
                        .map(|p| match p {
                            ContentPart::Text { text } => text.len(),
                            ContentPart::ImageUrl { .. } => 0,
                        })
                        .sum(),
                    None => 0,
                };
                let tools: usize = m
                    .tool_calls
                    .iter()
                    .map(|t| t.function.arguments.len())
                    .sum();
                tokens(chars + tools) + 4
            })
            .sum();
        let reasoning = c.reasoning.as_deref().map_or(0, |r| tokens(r.len()));
        let tools: usize = c
            .message
            .tool_calls
            .iter()
            .map(|t| t.function.name.len() + t.function.arguments.len())
            .sum();
        let output = tokens(c.message.text().len() + tools) + reasoning;
        Usage {
            input_tokens: input as u64,
            output_tokens: output as u64,
            reasoning_tokens: reasoning as u64,
            source: UsageSource::Estimated,
            ..Usage::default()
        }
    }
}

impl Serialize for Usage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Usage", 9)?;
        s.serialize_field("input_tokens", &self.input_tokens)?;
        s.serialize_field("output_tokens", &self.output_tokens)?;
        s.serialize_field("cached_input_tokens", &self.cached_input_tokens)?;
        s.serialize_field("cache_write_tokens", &self.cache_write_tokens)?;
        s.serialize_field("cache_write_1h_tokens", &self.cache_write_1h_tokens)?;
        s.serialize_field("reasoning_tokens", &self.reasoning_tokens)?;
        s.serialize_field("total_tokens", &self.total_tokens())?;
        if let Some(c) = self.cost_usd {
            s.serialize_field("cost_usd", &c)?;
        }
        s.serialize_field("source", &self.source)?;
        s.end()
    }
}

fn tokens(chars: usize) -> usize {
    chars.div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_with_the_derived_total() {
        let u = Usage {
            input_tokens: 3,
            output_tokens: 4,
            source: UsageSource::Reported,
            ..Usage::default()
        };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(v["total_tokens"], 7);
        assert_eq!(v["source"], "reported");
        assert!(v.get("cost_usd").is_none());
        let back: Usage = serde_json::from_value(v).unwrap();
        assert_eq!(back, u);
    }

    #[test]
    fn sums_saturate_and_keep_the_least_certain_source() {
        let mut a = Usage {
            input_tokens: u64::MAX - 1,
            source: UsageSource::Reported,
            ..Usage::default()
        };
        a.add(&Usage {
            input_tokens: 5,
            source: UsageSource::None,
            ..Usage::default()
        });
        assert_eq!(
            (a.input_tokens, a.source),
            (u64::MAX, UsageSource::Reported)
        );
        a.add(&Usage::default());
        assert_eq!(a.source, UsageSource::Unknown);
        assert_eq!(a.cost_usd, None, "no cost is invented");
    }
}
