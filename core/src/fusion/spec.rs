//! What a fusion is: its pool, judge, mode and options ([`FusionSpec`]: one shape for a
//! `fusions.<name>` entry of the config document and for the options of `Client::fuse`), the
//! request of one fusion ([`FuseRequest`]), the named fusions of a client ([`Fusions`]), and their
//! validation, with errors naming the config key or the option that was wrong.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::extract::Extractor;
use crate::types::error::{Error, Result};
use crate::types::message::Message;
use crate::types::request::{json_type, Params, Request};

/// How the pool's answers become one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// The judge analyses the candidates (JSON), then writes one answer that resolves their
    /// contradictions (`single_call`: analysis and answer in one call, after `FINAL ANSWER:`).
    #[default]
    #[serde(rename = "merge")]
    Merge,
    /// The judge scores every candidate against a rubric; the winner is returned verbatim.
    #[serde(rename = "best-of", alias = "best_of", alias = "bestOf")]
    BestOf,
    /// Members revise their answers after seeing the others' (anonymized), for `rounds` rounds.
    #[serde(rename = "debate")]
    Debate,
    /// Extracted final answers are counted; the judge is asked only on a tie.
    #[serde(rename = "vote")]
    Vote,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Merge => "merge",
            Mode::BestOf => "best-of",
            Mode::Debate => "debate",
            Mode::Vote => "vote",
        }
    }
}

/// The temperature of a self-fusion's samples unless one is given.
pub const SELF_FUSION_TEMPERATURE: f64 = 0.7;
/// The most members a pool may have.
pub const MAX_MEMBERS: usize = 16;
/// The most revision rounds of a debate.
pub const MAX_ROUNDS: u32 = 3;

/// The members of a fusion: model strings or routes, or one model sampled `samples` times
/// (self-fusion, at `temperature`, 0.7 unless given).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", untagged)]
pub enum Pool {
    Members(Vec<String>),
    Samples {
        model: String,
        samples: u32,
        temperature: f64,
    },
}

impl TryFrom<Value> for Pool {
    type Error = String;
    fn try_from(v: Value) -> std::result::Result<Pool, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Samples {
            model: String,
            samples: u32,
            #[serde(default)]
            temperature: Option<f64>,
        }
        match v {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, m)| match m {
                    Value::String(s) => Ok(s),
                    other => Err(format!(
                        "[{i}]: expected a model string or route name, got {}",
                        json_type(&other)
                    )),
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Pool::Members),
            Value::Object(_) => serde_json::from_value::<Samples>(v)
                .map(|s| Pool::Samples {
                    model: s.model,
                    samples: s.samples,
                    temperature: s.temperature.unwrap_or(SELF_FUSION_TEMPERATURE),
                })
                .map_err(|e| format!("self-fusion `{{model, samples, temperature}}`: {e}")),
            other => Err(format!(
                "expected a list of models, or `{{model, samples, temperature}}` for self-fusion, got {}",
                json_type(&other)
            )),
        }
    }
}

impl Pool {
    /// The member models, one per seat (a self-fusion's model repeated).
    pub fn seats(&self) -> Vec<String> {
        match self {
            Pool::Members(m) => m.clone(),
            Pool::Samples { model, samples, .. } => vec![model.clone(); *samples as usize],
        }
    }
}

/// Hard deadlines of the phases, in milliseconds: one number for every phase, or per phase.
/// `panel`: from the start of the panel (each debate round is a panel) until the stragglers are
/// cancelled; `judge`: every judge call of the fusion together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct PhaseDeadlines {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<u64>,
}

impl TryFrom<Value> for PhaseDeadlines {
    type Error = String;
    fn try_from(v: Value) -> std::result::Result<PhaseDeadlines, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct PerPhase {
            #[serde(default)]
            panel: Option<u64>,
            #[serde(default)]
            judge: Option<u64>,
        }
        match v {
            Value::Number(n) => match n.as_u64() {
                Some(ms) => Ok(PhaseDeadlines {
                    panel: Some(ms),
                    judge: Some(ms),
                }),
                None => Err(format!("expected a whole number of milliseconds, got {n}")),
            },
            Value::Object(_) => serde_json::from_value::<PerPhase>(v)
                .map(|p| PhaseDeadlines {
                    panel: p.panel,
                    judge: p.judge,
                })
                .map_err(|e| format!("`{{panel, judge}}`: {e}")),
            other => Err(format!(
                "expected milliseconds, or `{{panel, judge}}` in milliseconds, got {}",
                json_type(&other)
            )),
        }
    }
}

/// How a debate ends once its rounds are over (unless the members agree).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finalize {
    /// A vote when every final answer has a short extractable answer, else best-of with the
    /// judge (a vote when there is no judge).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "vote")]
    Vote,
    #[serde(rename = "best-of", alias = "best_of", alias = "bestOf")]
    BestOf,
    #[serde(rename = "merge")]
    Merge,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A fusion: who answers, who judges, how, and under which rules. The same keys (snake_case;
/// camelCase accepted) are a `fusions.<name>` entry of the config and the options of `fuse`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FusionSpec {
    pub pool: Pool,
    /// The judge's model or route (best-of, merge, a debate's judged end, a vote's tie-break).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    /// Usable answers to wait for before the grace timer starts (default: every member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// How long the stragglers may still answer once the quorum is in (default: as long as the
    /// quorum took, at most 5 s).
    #[serde(default, alias = "graceMs", skip_serializing_if = "Option::is_none")]
    pub grace_ms: Option<u64>,
    #[serde(default, alias = "deadlineMs", skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<PhaseDeadlines>,
    /// Debate revision rounds (default 1, at most 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u32>,
    /// The seed of the candidates' order (random when absent; always recorded on the result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The judge's criteria, replacing the default rubric (best-of, a debate's judged end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<String>,
    /// The judge's instructions, replacing polyfuse's (the output format is still appended).
    #[serde(
        default,
        alias = "judgePrompt",
        skip_serializing_if = "Option::is_none"
    )]
    pub judge_prompt: Option<String>,
    /// How a final answer is read out of a candidate (vote, agreement, the fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extractor: Option<Extractor>,
    /// Best-of: a second judge pass with the candidates in reverse order, flagging a verdict
    /// that changes.
    #[serde(default, alias = "orderSwap", skip_serializing_if = "is_false")]
    pub order_swap: bool,
    /// Merge: analysis and answer in one judge call (the answer follows `FINAL ANSWER:`).
    #[serde(default, alias = "singleCall", skip_serializing_if = "is_false")]
    pub single_call: bool,
    /// Skip the judge when the usable answers agree.
    #[serde(
        default = "yes",
        alias = "agreementShortcut",
        skip_serializing_if = "is_true"
    )]
    pub agreement_shortcut: bool,
    /// How a debate ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalize: Option<Finalize>,
}

/// Every option name a fusion takes (both spellings): `fuse` sends the other keys of its
/// options to the members as call parameters.
pub const OPTION_KEYS: &[&str] = &[
    "pool",
    "judge",
    "mode",
    "quorum",
    "grace_ms",
    "graceMs",
    "deadline_ms",
    "deadlineMs",
    "rounds",
    "seed",
    "rubric",
    "judge_prompt",
    "judgePrompt",
    "extractor",
    "order_swap",
    "orderSwap",
    "single_call",
    "singleCall",
    "agreement_shortcut",
    "agreementShortcut",
    "finalize",
];

impl FusionSpec {
    /// A spec with these members and judge, everything else by default.
    pub fn new(pool: Pool, judge: Option<String>, mode: Mode) -> FusionSpec {
        FusionSpec {
            pool,
            judge,
            mode,
            quorum: None,
            grace_ms: None,
            deadline_ms: None,
            rounds: None,
            seed: None,
            rubric: None,
            judge_prompt: None,
            extractor: None,
            order_swap: false,
            single_call: false,
            agreement_shortcut: true,
            finalize: None,
        }
    }

    /// Whether the judge is needed whatever the answers (best-of, merge, a judged debate).
    pub fn needs_judge(&self) -> bool {
        match self.mode {
            Mode::BestOf | Mode::Merge => true,
            Mode::Debate => matches!(self.finalize, Some(Finalize::BestOf | Finalize::Merge)),
            Mode::Vote => false,
        }
    }

    /// Checks what can be checked without the providers; `key(name)` names an option or key
    /// (`option `quorum`` or `config key `fusions.x.quorum``).
    pub fn check(&self, key: &dyn Fn(&str) -> String) -> Result<()> {
        let bad = |k: &str, msg: String| Err(Error::invalid_request(format!("{}: {msg}", key(k))));
        let seats = self.pool.seats();
        match &self.pool {
            Pool::Members(m) if m.is_empty() => {
                return bad("pool", "a fusion needs at least one member".into())
            }
            Pool::Samples { samples, .. } if *samples == 0 => {
                return bad("pool.samples", "must be at least 1".into())
            }
            Pool::Samples { temperature, .. } if !(0.0..=2.0).contains(temperature) => {
                return bad(
                    "pool.temperature",
                    format!("must be between 0 and 2, got {temperature}"),
                )
            }
            _ => {}
        }
        if seats.len() > MAX_MEMBERS {
            return bad(
                "pool",
                format!(
                    "at most {MAX_MEMBERS} members, got {} (pairwise knockout of large pools is not offered)",
                    seats.len()
                ),
            );
        }
        for (i, m) in seats.iter().enumerate() {
            let at = match self.pool {
                Pool::Members(_) => format!("pool[{i}]"),
                Pool::Samples { .. } => "pool.model".to_string(),
            };
            if m.trim().is_empty() {
                return bad(&at, "expected a model or route, got an empty string".into());
            }
            if super::named(m).is_some() {
                return bad(
                    &at,
                    format!("`{m}`: a fusion cannot be a member of a fusion"),
                );
            }
        }
        if let Some(j) = &self.judge {
            if j.trim().is_empty() {
                return bad(
                    "judge",
                    "expected a model or route, got an empty string".into(),
                );
            }
            if super::named(j).is_some() {
                return bad("judge", format!("`{j}`: a fusion cannot judge a fusion"));
            }
        } else if self.needs_judge() {
            return bad(
                "judge",
                format!(
                    "mode `{}` needs a judge (a model or route, best not one of the pool)",
                    self.mode.as_str()
                ),
            );
        }
        if let Some(q) = self.quorum {
            if q == 0 || q as usize > seats.len() {
                return bad(
                    "quorum",
                    format!(
                        "must be between 1 and the number of members ({}), got {q}",
                        seats.len()
                    ),
                );
            }
        }
        let debate = self.mode == Mode::Debate;
        if let Some(r) = self.rounds {
            if !debate {
                return bad("rounds", "applies to mode `debate` only".into());
            }
            if r == 0 || r > MAX_ROUNDS {
                return bad(
                    "rounds",
                    format!("must be between 1 and {MAX_ROUNDS}, got {r}"),
                );
            }
        }
        if self.finalize.is_some() && !debate {
            return bad("finalize", "applies to mode `debate` only".into());
        }
        if self.order_swap && matches!(self.mode, Mode::Merge | Mode::Vote) {
            return bad(
                "order_swap",
                "applies to modes `best-of` and `debate` only".into(),
            );
        }
        if self.single_call && matches!(self.mode, Mode::BestOf | Mode::Vote) {
            return bad(
                "single_call",
                "applies to modes `merge` and `debate` only".into(),
            );
        }
        if self.seed.is_some_and(|s| s > MAX_SEED) {
            return bad("seed", format!("must be at most {MAX_SEED} (2^53 - 1)"));
        }
        Ok(())
    }
}

/// The largest seed: every seed is exact as a JavaScript number.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// One fusion to run: the conversation, the fusion, and the call parameters every member gets
/// (the judge gets only the tags, metadata and total deadline, at temperature 0).
#[derive(Clone, Debug, PartialEq)]
pub struct FuseRequest {
    pub messages: Vec<Message>,
    pub spec: FusionSpec,
    pub params: Params,
    /// The config's name of the fusion (`fusion/<name>`), if it is a named one.
    pub name: Option<String>,
}

impl FuseRequest {
    pub fn new(messages: Vec<Message>, spec: FusionSpec) -> FuseRequest {
        FuseRequest {
            messages,
            spec,
            params: Params::default(),
            name: None,
        }
    }

    /// Builds a fusion from loosely typed values, as the bindings receive them: `input` is a
    /// prompt string or a list of messages; `options` an object of fusion options (`pool`,
    /// `judge`, `mode`, `quorum`, ...) and call parameters for the members (`temperature`,
    /// `max_tokens`, `tags`, ...). Errors name the option that was wrong.
    pub fn from_values(input: Value, options: Value) -> Result<FuseRequest> {
        let options = match options {
            Value::Null => Map::new(),
            Value::Object(m) => m,
            other => {
                return Err(Error::invalid_request(format!(
                    "fuse options: expected an object, got {}",
                    json_type(&other)
                )))
            }
        };
        let (mut spec, mut params) = (Map::new(), Map::new());
        for (k, v) in options {
            if v.is_null() {
                continue;
            }
            if OPTION_KEYS.contains(&k.as_str()) {
                spec.insert(k, v);
            } else {
                params.insert(k, v);
            }
        }
        if !spec.contains_key("pool") {
            return Err(Error::invalid_request(
                "option `pool` is missing: the members of the fusion (a list of models or routes, or `{model, samples}` for self-fusion)",
            ));
        }
        let spec: FusionSpec =
            serde_path_to_error::deserialize(Value::Object(spec)).map_err(|e| {
                let path = e.path().to_string();
                Error::invalid_request(format!("option `{path}`: {}", e.into_inner()))
            })?;
        spec.check(&|k| format!("option `{k}`"))?;
        let req = Request::from_values("fusion", input, Value::Object(std::mem::take(&mut params)))
            .map_err(|mut e| {
                if e.message.contains("unknown field") {
                    e.message = format!(
                        "{}; the fusion options are {}",
                        e.message,
                        OPTION_KEYS
                            .iter()
                            .filter(|k| !k.contains(|c: char| c.is_ascii_uppercase()))
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                e
            })?;
        Ok(FuseRequest {
            messages: req.messages,
            spec,
            params: req.params,
            name: None,
        })
    }
}

/// The named fusions of a client (`fusions.<name>` in the config), checked when it is built.
#[derive(Clone, Debug, Default)]
pub struct Fusions {
    specs: BTreeMap<String, FusionSpec>,
}

impl Fusions {
    /// Checks every fusion: its options, and (through `resolve`) that every member and judge
    /// names a configured provider or route. Errors name the config key.
    pub fn new(
        specs: BTreeMap<String, FusionSpec>,
        resolve: &dyn Fn(&str) -> Result<()>,
    ) -> Result<Fusions> {
        for (name, spec) in &specs {
            check_named(name, spec)?;
            resolve_models(spec, resolve, &|k| {
                format!("config key `fusions.{name}.{k}`")
            })
            .map_err(|mut e| {
                e.kind = crate::types::error::ErrorKind::Config;
                e
            })?;
        }
        Ok(Fusions { specs })
    }

    pub fn get(&self, name: &str) -> Option<&FusionSpec> {
        self.specs.get(name)
    }

    pub fn names(&self) -> Vec<String> {
        self.specs.keys().cloned().collect()
    }
}

/// The checks of a `fusions.<name>` entry that need no providers (run when the document is
/// parsed).
pub(crate) fn check_named(name: &str, spec: &FusionSpec) -> Result<()> {
    if name.is_empty() || name.contains('/') {
        return Err(Error::config(format!(
            "config key `fusions.{name}`: a fusion name must be non-empty and contain no `/`"
        )));
    }
    spec.check(&|k| format!("config key `fusions.{name}.{k}`"))
        .map_err(|e| Error::config(e.message))
}

/// Every member and the judge must resolve to a provider or route.
pub(crate) fn resolve_models(
    spec: &FusionSpec,
    resolve: &dyn Fn(&str) -> Result<()>,
    key: &dyn Fn(&str) -> String,
) -> Result<()> {
    let members = spec.pool.seats();
    for (i, m) in members.iter().enumerate() {
        let at = match spec.pool {
            Pool::Members(_) => format!("pool[{i}]"),
            Pool::Samples { .. } => "pool.model".to_string(),
        };
        resolve(m).map_err(|e| Error::new(e.kind, format!("{}: {}", key(&at), e.message)))?;
        if matches!(spec.pool, Pool::Samples { .. }) {
            break;
        }
    }
    if let Some(j) = &spec.judge {
        resolve(j).map_err(|e| Error::new(e.kind, format!("{}: {}", key("judge"), e.message)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_and_member_parameters_are_split() {
        let r = FuseRequest::from_values(
            json!("hi"),
            json!({"pool": ["mock/a", "mock/b"], "judge": "mock/j", "mode": "best-of",
                   "graceMs": 300, "quorum": 2, "temperature": 0.3, "maxTokens": 9, "seed": 7}),
        )
        .unwrap();
        assert_eq!(r.spec.mode, Mode::BestOf);
        assert_eq!(
            (r.spec.grace_ms, r.spec.quorum, r.spec.seed),
            (Some(300), Some(2), Some(7))
        );
        assert_eq!(
            (r.params.temperature, r.params.max_tokens),
            (Some(0.3), Some(9))
        );
        assert_eq!(r.params.seed, None, "`seed` is the candidates' order");
    }

    #[test]
    fn every_option_key_is_a_field() {
        let mut spec = FusionSpec::new(
            Pool::Members(vec!["mock/a".into()]),
            Some("mock/j".into()),
            Mode::Debate,
        );
        spec.quorum = Some(1);
        spec.grace_ms = Some(1);
        spec.deadline_ms = Some(PhaseDeadlines {
            panel: Some(1),
            judge: None,
        });
        spec.rounds = Some(1);
        spec.seed = Some(1);
        spec.rubric = Some("r".into());
        spec.judge_prompt = Some("p".into());
        spec.extractor = Some(Extractor::Boxed);
        spec.order_swap = true;
        spec.single_call = true;
        spec.agreement_shortcut = false;
        spec.finalize = Some(Finalize::Vote);
        let v = serde_json::to_value(&spec).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let snake: Vec<&str> = OPTION_KEYS
            .iter()
            .copied()
            .filter(|k| !k.contains(|c: char| c.is_ascii_uppercase()))
            .collect();
        let mut a = keys.clone();
        a.sort_unstable();
        let mut b = snake.clone();
        b.sort_unstable();
        assert_eq!(a, b);
        let back: FusionSpec = serde_json::from_value(v).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn bad_options_are_named() {
        let e = |o: Value| {
            FuseRequest::from_values(json!("hi"), o)
                .unwrap_err()
                .message
        };
        assert!(e(json!({"judge": "mock/j"})).contains("`pool`"));
        assert!(e(json!({"pool": [], "judge": "mock/j"})).contains("option `pool`"));
        assert!(e(json!({"pool": ["mock/a", 3], "judge": "mock/j"})).contains("[1]"));
        assert!(
            e(json!({"pool": ["mock/a"], "judge": "mock/j", "quorum": 2}))
                .contains("option `quorum`")
        );
        assert!(e(json!({"pool": ["mock/a"], "mode": "best-of"})).contains("option `judge`"));
        assert!(
            e(json!({"pool": ["mock/a"], "judge": "j", "mode": "debate", "rounds": 4}))
                .contains("option `rounds`")
        );
        assert!(e(json!({"pool": ["mock/a"], "judge": "j", "rounds": 2})).contains("debate"));
        assert!(e(json!({"pool": ["mock/a"], "judge": "j", "mode": "bestof"})).contains("mode"));
        assert!(e(json!({"pool": ["fusion/x"], "judge": "j"})).contains("pool[0]"));
        assert!(
            e(json!({"pool": {"model": "mock/a", "samples": 0}, "judge": "j"}))
                .contains("pool.samples")
        );
        assert!(
            e(json!({"pool": ["mock/a"], "judge": "j", "deadline_ms": "soon"}))
                .contains("option `deadline_ms`")
        );
        let unknown = e(json!({"pool": ["mock/a"], "judge": "j", "quorom": 1}));
        assert!(
            unknown.contains("quorom") && unknown.contains("grace_ms"),
            "{unknown}"
        );
    }

    #[test]
    fn pools_and_deadlines_take_both_shapes() {
        let p: Pool = serde_json::from_value(json!({"model": "mock/a", "samples": 3})).unwrap();
        assert_eq!(p.seats(), vec!["mock/a"; 3]);
        assert!(
            matches!(p, Pool::Samples { temperature, .. } if temperature == SELF_FUSION_TEMPERATURE)
        );
        let d: PhaseDeadlines = serde_json::from_value(json!(500)).unwrap();
        assert_eq!((d.panel, d.judge), (Some(500), Some(500)));
        let d: PhaseDeadlines = serde_json::from_value(json!({"judge": 9})).unwrap();
        assert_eq!((d.panel, d.judge), (None, Some(9)));
    }
}
