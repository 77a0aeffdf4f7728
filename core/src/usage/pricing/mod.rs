//! Pricing and the model catalogue: per-model prices (USD per million tokens), context-length
//! tiers and context windows ([`ModelInfo`], in `prices`) from the built-in
//! `core/data/models.json` (our format, refreshed from LiteLLM's price list by
//! `core/data/refresh.py`), with per-model overrides ([`Catalogue::with_overrides`]);
//! [`Catalogue::cost`] prices a [`Usage`]; [`UnknownModels`] remembers which unknown models were
//! already warned about.
//!
//! # Lookup (`Catalogue::lookup`)
//! A model string `provider/model` is looked up, first hit wins:
//! 1. exactly as given;
//! 2. without mock options (`openai/gpt-4o;ttft_ms=50` → `openai/gpt-4o`);
//! 3. `openrouter/<vendor>/<model>`: the vendor's own entry, since OpenRouter bills the vendor's
//!    list price: `openai/…`, `anthropic/…`, `google/…`, `mistralai/…` → `mistral/…`,
//!    `x-ai/…` → `xai/…`, `deepseek/…`; for Anthropic also with OpenRouter's dotted version
//!    written Anthropic's way (`claude-sonnet-4.5` → `claude-sonnet-4-5`). Variants such as
//!    `:free` or `:online` are priced differently and stay unknown;
//! 4. a provider the user named (not a built-in one and not `mock`, e.g. `azure/gpt-4o`,
//!    `local/…`): the bare model name, when exactly one catalogue entry has it
//!    (`gpt-4o` → `openai/gpt-4o`; `openai/gpt-oss-120b` is at both Groq and Together, so unknown).
//!
//! Nothing else: no fuzzy match, no date stripping (a dated snapshot can cost more than the alias,
//! e.g. `gpt-4o-2024-05-13`); dated names are priced when the data lists them, as LiteLLM does.
//!
//! # Cost (`Catalogue::cost`)
//! The provider's reported `cost_usd` wins. Else `None` when the usage is unknown or the model has
//! no input or output price, and 0 when nothing was consumed (`UsageSource::None`). Else, with the
//! tier whose `above` the input tokens (cached included) exceed pricing the whole request (the
//! highest such tier; a price the tier lacks comes from the model):
//! uncached input × `input` + cache reads × `cached_input` (default `input`) + 5-minute cache writes
//! × `cache_write` (default `input`) + 1-hour writes × `cache_write_1h` (default `cache_write`) +
//! non-reasoning output × `output` + reasoning × `reasoning` (default `output`), over 10⁶.
//! Token subsets saturate (an inconsistent report never goes negative); the result is finite.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Serialize};

use super::tokens::{Usage, UsageSource};
use crate::types::error::{Error, Result};

mod prices;

pub use prices::{ModelInfo, Prices, Tier};

/// The built-in data, parsed on first use.
const BUILTIN_DATA: &str = include_str!("../../../data/models.json");

static BUILTIN: LazyLock<Catalogue> = LazyLock::new(|| {
    // The file is checked by tests (`builtin_data_is_valid`); should it ever fail to parse, every
    // model is unknown (cost `None`), never mispriced.
    Catalogue::from_json(BUILTIN_DATA).unwrap_or_default()
});

/// OpenRouter vendor prefixes and the polyfuse provider whose list prices OpenRouter bills.
const OPENROUTER_VENDORS: &[(&str, &str)] = &[
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("google", "google"),
    ("mistralai", "mistral"),
    ("x-ai", "xai"),
    ("deepseek", "deepseek"),
];

/// Where the built-in data comes from (the data file's header).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    /// The package the prices were read from (`litellm`).
    pub package: String,
    pub version: String,
    /// The file inside the package, its SHA-256 and the package's page.
    pub file: String,
    pub file_sha256: String,
    pub url: String,
    /// When the data was refreshed (YYYY-MM-DD).
    #[serde(default)]
    pub date: String,
}

/// The data file: a header and the models.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    source: DataSource,
    date: String,
    units: String,
    #[serde(default)]
    #[allow(dead_code)] // documentation in the file
    generated_by: Option<String>,
    models: BTreeMap<String, ModelInfo>,
}

/// The model catalogue: prices and limits by `provider/model`, and the lookup rules of the
/// module docs.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    models: HashMap<String, ModelInfo>,
    /// Bare model name (after the provider) → the one key with it, `None` when several have it.
    bare: HashMap<String, Option<String>>,
    source: DataSource,
}

impl Catalogue {
    /// The built-in data (`core/data/models.json`), parsed once.
    pub fn builtin() -> &'static Catalogue {
        &BUILTIN
    }

    /// The built-in data with `overrides` (the config's `pricing.models`, same shape as the data
    /// file's entries) applied: an entry for a catalogued model replaces the fields it gives
    /// (`tiers` as a whole; `tiers = []` removes them), any other entry adds a model. Errors name
    /// the key path (`pricing.models."<model>".<field>`).
    pub fn with_overrides(overrides: &BTreeMap<String, ModelInfo>) -> Result<Catalogue> {
        let mut cat = Catalogue::builtin().clone();
        for (key, over) in overrides {
            let at = format!("pricing.models.{key:?}");
            match key.split_once('/') {
                Some((p, m)) if !p.is_empty() && !m.is_empty() && !key.contains(';') => {}
                _ => {
                    return Err(Error::config(format!(
                        "{at}: expected a model name `provider/model` (e.g. \"openai/gpt-4o\")"
                    )))
                }
            }
            let mut info = match cat.models.get(key) {
                Some(base) => base.overridden_by(over),
                None => over.clone(),
            };
            info.validate(&at)?;
            cat.models.insert(key.clone(), info);
        }
        cat.index();
        Ok(cat)
    }

    /// Parses a data file in our format (see `core/data/README.md`).
    fn from_json(text: &str) -> Result<Catalogue> {
        let bad = |e: String| Error::config(format!("model catalogue: {e}"));
        let doc: Document = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if doc.units != "USD per million tokens" {
            return Err(bad(format!(
                "units: expected \"USD per million tokens\", got {:?}",
                doc.units
            )));
        }
        let mut models = HashMap::with_capacity(doc.models.len());
        for (key, mut info) in doc.models {
            info.validate(&format!("models.{key:?}"))?;
            models.insert(key, info);
        }
        let mut cat = Catalogue {
            models,
            bare: HashMap::new(),
            source: DataSource {
                date: doc.date,
                ..doc.source
            },
        };
        cat.index();
        Ok(cat)
    }

    fn index(&mut self) {
        self.bare.clear();
        for key in self.models.keys() {
            if let Some((_, name)) = key.split_once('/') {
                self.bare
                    .entry(name.to_string())
                    .and_modify(|only| *only = None)
                    .or_insert_with(|| Some(key.clone()));
            }
        }
    }

    /// Where the built-in data comes from, and its date.
    pub fn source(&self) -> &DataSource {
        &self.source
    }

    /// How many models the catalogue has.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The entry for `model` (see the module docs for the rules).
    pub fn lookup(&self, model: &str) -> Option<&ModelInfo> {
        self.resolve(model).map(|(_, info)| info)
    }

    /// The catalogue key that `model` resolves to, and its entry.
    pub fn resolve(&self, model: &str) -> Option<(&str, &ModelInfo)> {
        let get = |k: &str| self.models.get_key_value(k).map(|(k, v)| (k.as_str(), v));
        if let Some(hit) = get(model) {
            return Some(hit);
        }
        let model = without_mock_options(model);
        if let Some(hit) = get(model) {
            return Some(hit);
        }
        let (provider, name) = model.split_once('/')?;
        if provider == "openrouter" {
            let (vendor, name) = name.split_once('/')?;
            let (_, ours) = OPENROUTER_VENDORS.iter().find(|(v, _)| *v == vendor)?;
            return get(&format!("{ours}/{name}")).or_else(|| {
                (*ours == "anthropic" && name.contains('.'))
                    .then(|| get(&format!("{ours}/{}", name.replace('.', "-"))))
                    .flatten()
            });
        }
        if provider == "mock" || crate::config::builtin(provider).is_some() {
            return None;
        }
        get(self.bare.get(name)?.as_deref()?)
    }

    /// What `usage` cost on `model`: see the module docs. Never NaN, never a made-up 0.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        if let Some(reported) = usage.cost_usd.filter(|c| c.is_finite() && *c >= 0.0) {
            return Some(reported);
        }
        match usage.source {
            UsageSource::Unknown => None,
            UsageSource::None => Some(0.0),
            UsageSource::Reported | UsageSource::Estimated => self.lookup(model)?.price(usage),
        }
    }

    /// The model's maximum input tokens.
    pub fn context_window(&self, model: &str) -> Option<u64> {
        self.lookup(model)?.context_window
    }

    /// The model's maximum output tokens.
    pub fn max_output(&self, model: &str) -> Option<u64> {
        self.lookup(model)?.max_output
    }

    /// Input + output price per million tokens (for `lowest_cost` balancing).
    pub fn blended_per_mtok(&self, model: &str) -> Option<f64> {
        self.lookup(model)?.blended_per_mtok()
    }
}

/// A model string without mock options (`gpt-4o;ttft_ms=5` → `gpt-4o`).
fn without_mock_options(model: &str) -> &str {
    model.split_once(';').map_or(model, |(m, _)| m)
}

/// Which unknown models were already warned about, so each is warned about once. Remembers up to
/// [`UnknownModels::LIMIT`] models (mock options stripped); past that, no more warnings.
#[derive(Debug, Default)]
pub struct UnknownModels {
    warned: Mutex<HashSet<String>>,
}

impl UnknownModels {
    /// How many distinct models are remembered at most (memory stays bounded whatever the
    /// callers send).
    pub const LIMIT: usize = 1024;

    pub fn new() -> Self {
        Self::default()
    }

    /// True the first time `model` is passed (a warning is due), false afterwards.
    pub fn first_time(&self, model: &str) -> bool {
        let model = without_mock_options(model);
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.len() >= Self::LIMIT || warned.contains(model) {
            return false;
        }
        warned.insert(model.to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::prices::tests::{close, usage};
    use super::*;

    #[test]
    fn builtin_data_is_valid() {
        let cat = Catalogue::from_json(BUILTIN_DATA).unwrap();
        assert!(cat.len() > 200, "{} models", cat.len());
        assert_eq!(cat.source().package, "litellm");
        assert_eq!(cat.source().date.len(), 10);
        for p in [
            "openai",
            "anthropic",
            "google",
            "mistral",
            "xai",
            "deepseek",
        ] {
            assert!(
                cat.models.keys().any(|k| k.starts_with(&format!("{p}/"))),
                "no {p} models"
            );
        }
        for (k, v) in &cat.models {
            assert!(v.blended_per_mtok().is_some(), "{k} has no price");
        }
        assert_eq!(Catalogue::builtin().len(), cat.len());
    }

    #[test]
    fn lookup_rules() {
        let cat = Catalogue::builtin();
        let key = |m: &str| cat.resolve(m).map(|(k, _)| k.to_string());
        assert_eq!(key("openai/gpt-4o").as_deref(), Some("openai/gpt-4o"));
        assert_eq!(
            key("openai/gpt-4o;ttft_ms=5;chunks=2").as_deref(),
            Some("openai/gpt-4o")
        );
        // A dated name is its own entry, never the alias's.
        assert_eq!(
            key("openai/gpt-4o-2024-05-13").as_deref(),
            Some("openai/gpt-4o-2024-05-13")
        );
        assert_eq!(key("openai/gpt-4o-2099-01-01"), None);
        assert_eq!(key("openrouter/openai/o3").as_deref(), Some("openai/o3"));
        assert_eq!(
            key("openrouter/anthropic/claude-sonnet-4.5").as_deref(),
            Some("anthropic/claude-sonnet-4-5")
        );
        assert_eq!(
            key("openrouter/google/gemini-2.5-pro").as_deref(),
            Some("google/gemini-2.5-pro")
        );
        assert_eq!(key("openrouter/openai/o3:online"), None);
        assert_eq!(key("openrouter/meta-llama/llama-3-70b"), None);
        assert_eq!(key("openrouter/o3"), None);
        // A user-named provider borrows the one entry with that bare name.
        assert_eq!(key("azure/gpt-4o").as_deref(), Some("openai/gpt-4o"));
        assert_eq!(
            key("local/claude-haiku-4-5").as_deref(),
            Some("anthropic/claude-haiku-4-5")
        );
        // ... but not an ambiguous one (Groq and Together both list it) ...
        assert_eq!(key("azure/openai/gpt-oss-120b"), None);
        // ... and a built-in provider or the mock never borrows another's price.
        assert_eq!(key("groq/gpt-4o"), None);
        assert_eq!(key("ollama/gpt-4o"), None);
        assert_eq!(key("mock/gpt-4o"), None);
        assert_eq!(key("gpt-4o"), None);
        assert_eq!(key(""), None);
    }

    #[test]
    fn reported_cost_wins_and_sources_decide() {
        let cat = Catalogue::builtin();
        let mut u = usage(1000, 1000);
        u.cost_usd = Some(0.5);
        assert_eq!(cat.cost("openai/gpt-4o", &u), Some(0.5));
        assert_eq!(cat.cost("nobody/knows", &u), Some(0.5));
        u.cost_usd = Some(f64::NAN);
        // gpt-4o: 1000 × 2.5 + 1000 × 10 = 12500 micro-USD.
        assert!(close(cat.cost("openai/gpt-4o", &u), 0.0125));
        u.cost_usd = None;
        u.source = UsageSource::Estimated;
        assert!(close(cat.cost("openai/gpt-4o", &u), 0.0125));
        u.source = UsageSource::Unknown;
        assert_eq!(cat.cost("openai/gpt-4o", &u), None);
        assert_eq!(
            cat.cost("openai/gpt-4o", &Usage::none()),
            Some(0.0),
            "nothing consumed"
        );
        assert_eq!(cat.cost("nobody/knows", &usage(1, 1)), None);
    }

    #[test]
    fn overrides_merge_add_and_validate() {
        let overrides = |v: serde_json::Value| -> Result<Catalogue> {
            Catalogue::with_overrides(&serde_json::from_value(v).unwrap())
        };
        let cat = overrides(json!({
            "openai/gpt-4o": {"input": 1.0},
            "local/llama": {"context_window": 8192},
        }))
        .unwrap();
        let m = cat.lookup("openai/gpt-4o").unwrap();
        assert_eq!((m.prices.input, m.prices.output), (Some(1.0), Some(10.0)));
        assert_eq!(cat.context_window("local/llama"), Some(8192));
        assert_eq!(cat.cost("local/llama", &usage(5, 5)), None, "no price");
        let builtin = Catalogue::builtin().lookup("openai/gpt-4o").unwrap();
        assert_eq!(builtin.prices.input, Some(2.5));
        let tiered = overrides(json!({"google/gemini-2.5-pro": {"tiers": []}})).unwrap();
        // 300000 × 1.25 = 375000 micro-USD: base prices without the tiers.
        assert!(close(
            tiered.cost("google/gemini-2.5-pro", &usage(300_000, 0)),
            0.375
        ));

        let err = |v: serde_json::Value| overrides(v).unwrap_err().to_string();
        let e = err(json!({"openai/gpt-4o": {"cached_input": -0.5}}));
        assert!(
            e.contains("pricing.models.\"openai/gpt-4o\".cached_input") && e.contains("-0.5"),
            "{e}"
        );
        let e = err(json!({"x/y": {"tiers": [{"above": 5}, {"above": 5, "output": -1.0}]}}));
        assert!(e.contains("pricing.models.\"x/y\".tiers["), "{e}");
        let e = err(json!({"x/y": {"tiers": [{"above": 5}, {"above": 5}]}}));
        assert!(e.contains("tiers[1].above: two tiers above 5"), "{e}");
        let e = err(json!({"gpt-4o": {}}));
        assert!(
            e.contains("pricing.models.\"gpt-4o\": expected a model name"),
            "{e}"
        );
        let e = err(json!({"x/y": {"context_window": 0}}));
        assert!(e.contains("pricing.models.\"x/y\".context_window"), "{e}");
        // TOML can write nan and inf; they are rejected too.
        let mut bad = ModelInfo::default();
        bad.prices.output = Some(f64::INFINITY);
        let e = Catalogue::with_overrides(&BTreeMap::from([("x/y".to_string(), bad)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"x/y\".output") && e.contains("inf"), "{e}");
        for typo in [
            json!({"inptu": 1}),
            json!({"tiers": [{"above": 1, "ouput": 2}]}),
        ] {
            let e = serde_json::from_value::<ModelInfo>(typo).unwrap_err();
            assert!(e.to_string().contains("unknown field"), "{e}");
        }
    }

    #[test]
    fn unknown_models_are_warned_once_and_memory_is_bounded() {
        let u = UnknownModels::new();
        assert!(u.first_time("x/y"));
        assert!(!u.first_time("x/y"));
        assert!(
            !u.first_time("x/y;seed=2"),
            "mock options are not a new model"
        );
        assert!(u.first_time("x/z"));
        for i in 0..UnknownModels::LIMIT * 2 {
            u.first_time(&format!("m/{i}"));
        }
        assert!(!u.first_time("x/never-seen"));
        assert_eq!(
            u.warned.lock().unwrap().len(),
            UnknownModels::LIMIT,
            "bounded"
        );
    }
}
