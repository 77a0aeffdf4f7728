//! A model's prices ([`Prices`], per million tokens, with context-length [`Tier`]s and limits in
//! [`ModelInfo`]) and what a [`Usage`] costs at them ([`ModelInfo::price`]): the formula is in the
//! parent module's docs.
use serde::{Deserialize, Serialize};

use crate::types::error::{Error, Result};
use crate::usage::tokens::Usage;

/// One model's prices and limits. Every field is optional: an override gives only what it
/// changes, and a model without an `input` and an `output` price has no cost (unknown) but may
/// still have a context window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    #[serde(flatten)]
    pub prices: Prices,
    /// Context-length tiers (Gemini's "above 200k"), in increasing `above`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<Tier>>,
    /// Maximum input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// Maximum output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u64>,
}

/// Prices in USD per million tokens, of a model or of one of its tiers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// Uncached input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<f64>,
    /// Output (reasoning included, unless `reasoning` prices it apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
    /// Input read from the prompt cache (default: `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Input written to the prompt cache, 5-minute lifetime (default: `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    /// Input written to the prompt cache with Anthropic's 1-hour lifetime (default: `cache_write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<f64>,
    /// Reasoning output, when priced apart from output (default: `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
}

/// The prices of a request whose input tokens exceed `above`; a price left out is the model's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Input tokens (cached included) the request must exceed.
    pub above: u64,
    #[serde(flatten)]
    pub prices: Prices,
}

/// The prices that apply to one request, defaults resolved.
struct Rates {
    input: f64,
    output: f64,
    cached_input: f64,
    cache_write: f64,
    cache_write_1h: f64,
    reasoning: f64,
}

impl Prices {
    /// These prices, with `base`'s where these have none.
    fn or(&self, base: &Prices) -> Prices {
        Prices {
            input: self.input.or(base.input),
            output: self.output.or(base.output),
            cached_input: self.cached_input.or(base.cached_input),
            cache_write: self.cache_write.or(base.cache_write),
            cache_write_1h: self.cache_write_1h.or(base.cache_write_1h),
            reasoning: self.reasoning.or(base.reasoning),
        }
    }

    /// The defaults resolved: `None` without an input and an output price.
    fn rates(&self) -> Option<Rates> {
        let (input, output) = (self.input?, self.output?);
        let cache_write = self.cache_write.unwrap_or(input);
        Some(Rates {
            input,
            output,
            cached_input: self.cached_input.unwrap_or(input),
            cache_write,
            cache_write_1h: self.cache_write_1h.unwrap_or(cache_write),
            reasoning: self.reasoning.unwrap_or(output),
        })
    }

    /// Every price is a finite number >= 0 (`at` names the entry for the message).
    fn check(&self, at: &str) -> Result<()> {
        for (name, v) in [
            ("input", self.input),
            ("output", self.output),
            ("cached_input", self.cached_input),
            ("cache_write", self.cache_write),
            ("cache_write_1h", self.cache_write_1h),
            ("reasoning", self.reasoning),
        ] {
            if let Some(v) = v.filter(|v| !v.is_finite() || *v < 0.0) {
                return Err(Error::config(format!(
                    "{at}.{name}: expected a price in USD per million tokens (a finite number >= 0), got {v}"
                )));
            }
        }
        Ok(())
    }
}

impl ModelInfo {
    /// Input + output price per million tokens (the `lowest_cost` strategy's measure).
    pub fn blended_per_mtok(&self) -> Option<f64> {
        Some(self.prices.input? + self.prices.output?)
    }

    /// The cost of `usage` at these prices (ignoring any reported cost and the usage source):
    /// `None` without an input and an output price.
    pub fn price(&self, usage: &Usage) -> Option<f64> {
        let r = match self.tier(usage.input_tokens) {
            Some(t) => t.prices.or(&self.prices).rates()?,
            None => self.prices.rates()?,
        };
        let cached = usage.cached_input_tokens;
        let written = usage.cache_write_tokens;
        let written_1h = usage.cache_write_1h_tokens.min(written);
        let reasoning = usage.reasoning_tokens.min(usage.output_tokens);
        let uncached = usage
            .input_tokens
            .saturating_sub(cached)
            .saturating_sub(written);
        let micro = uncached as f64 * r.input
            + cached as f64 * r.cached_input
            + (written - written_1h) as f64 * r.cache_write
            + written_1h as f64 * r.cache_write_1h
            + (usage.output_tokens - reasoning) as f64 * r.output
            + reasoning as f64 * r.reasoning;
        let usd = micro / 1e6;
        usd.is_finite().then_some(usd)
    }

    /// The tier for `input_tokens`: the highest whose `above` they exceed.
    fn tier(&self, input_tokens: u64) -> Option<&Tier> {
        self.tiers
            .as_deref()?
            .iter()
            .filter(|t| input_tokens > t.above)
            .max_by_key(|t| t.above)
    }

    /// This entry with `over`'s fields in place of its own (tiers are replaced as a whole).
    pub(super) fn overridden_by(&self, over: &ModelInfo) -> ModelInfo {
        ModelInfo {
            prices: over.prices.or(&self.prices),
            tiers: over.tiers.clone().or_else(|| self.tiers.clone()),
            context_window: over.context_window.or(self.context_window),
            max_output: over.max_output.or(self.max_output),
        }
    }

    /// Checks every number (`at` names the entry for the message) and sorts the tiers.
    pub(super) fn validate(&mut self, at: &str) -> Result<()> {
        self.prices.check(at)?;
        for (name, v) in [
            ("context_window", self.context_window),
            ("max_output", self.max_output),
        ] {
            if v == Some(0) {
                return Err(Error::config(format!(
                    "{at}.{name}: expected a number of tokens above 0, got 0"
                )));
            }
        }
        if let Some(tiers) = &mut self.tiers {
            tiers.sort_by_key(|t| t.above);
            for (i, t) in tiers.iter().enumerate() {
                let here = format!("{at}.tiers[{i}]");
                t.prices.check(&here)?;
                if i > 0 && tiers[i - 1].above == t.above {
                    return Err(Error::config(format!(
                        "{here}.above: two tiers above {} tokens",
                        t.above
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::json;

    use super::*;
    use crate::usage::tokens::UsageSource;

    /// A reported usage of `input` and `output` tokens.
    pub(in crate::usage::pricing) fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            source: UsageSource::Reported,
            ..Usage::default()
        }
    }

    /// An entry written as in the data file (checked and tiers sorted).
    fn info(v: serde_json::Value) -> ModelInfo {
        let mut info: ModelInfo = serde_json::from_value(v).unwrap();
        info.validate("test").unwrap();
        info
    }

    /// `a` is `b` up to rounding.
    pub(in crate::usage::pricing) fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() <= 1e-12 * b.abs().max(1.0))
    }

    #[test]
    fn cost_parts_and_defaults() {
        let u = Usage {
            cached_input_tokens: 300,
            cache_write_tokens: 200,
            cache_write_1h_tokens: 50,
            reasoning_tokens: 100,
            ..usage(1000, 500)
        };
        // Every input kind at `input`, reasoning at `output`, when not priced apart:
        // 1000 × 2 + 500 × 10 = 7000 micro-USD.
        let plain = info(json!({"input": 2.0, "output": 10.0}));
        assert!(close(plain.price(&u), 0.007));
        // uncached 500 × 2 = 1000; cached 300 × 0.5 = 150; 5-minute writes 150 × 2.5 = 375;
        // 1-hour writes 50 × 2.5 (default: cache_write) = 125; output 400 × 10 = 4000;
        // reasoning 100 × 20 = 2000; total 7650 micro-USD.
        let mut apart = info(json!({"input": 2.0, "output": 10.0, "cached_input": 0.5,
            "cache_write": 2.5, "reasoning": 20.0}));
        assert!(close(apart.price(&u), 0.00765));
        // the 1-hour writes at their own 4: 50 × 4 = 200 instead of 125: 7725.
        apart.prices.cache_write_1h = Some(4.0);
        assert!(close(apart.price(&u), 0.007725));
        assert_eq!(ModelInfo::default().price(&u), None, "no price, no cost");
        assert_eq!(
            info(json!({"input": 1.0})).price(&u),
            None,
            "no output price"
        );
    }

    #[test]
    fn inconsistent_or_huge_counts_stay_finite() {
        let m = info(json!({"input": 1.0, "output": 1.0, "cached_input": 0.1}));
        // More cached than input, more reasoning than output: subsets saturate.
        let u = Usage {
            cached_input_tokens: 20,
            cache_write_1h_tokens: 5,
            reasoning_tokens: 99,
            ..usage(10, 3)
        };
        // uncached 0; cached 20 × 0.1 = 2; output 3 × 1 = 3 (all of it reasoning, at output).
        assert!(close(m.price(&u), 0.000005));
        let u = Usage {
            cached_input_tokens: u64::MAX,
            cache_write_tokens: u64::MAX,
            cache_write_1h_tokens: u64::MAX,
            reasoning_tokens: u64::MAX,
            ..usage(u64::MAX, u64::MAX)
        };
        let c = m.price(&u).unwrap();
        assert!(c.is_finite() && c > 0.0);
    }

    #[test]
    fn tiers_price_the_whole_request() {
        // Given out of order: validation sorts them.
        let m = info(
            json!({"input": 1.0, "output": 2.0, "cached_input": 0.1, "tiers": [
                {"above": 1000, "input": 3.0, "output": 4.0},
                {"above": 100, "input": 1.5},
            ]}),
        );
        // At the threshold: base prices. 100 × 1 + 10 × 2 = 120.
        assert!(close(m.price(&usage(100, 10)), 0.00012));
        // Above 100: input 1.5, output from the model: 101 × 1.5 + 10 × 2 = 171.5.
        assert!(close(m.price(&usage(101, 10)), 0.0001715));
        // Above 1000 (cached counted): 1001 tokens, 1 cached at the model's 0.1:
        // 1000 × 3 + 1 × 0.1 + 10 × 4 = 3040.1.
        let u = Usage {
            cached_input_tokens: 1,
            ..usage(1001, 10)
        };
        assert!(close(m.price(&u), 0.0030401));
    }
}
