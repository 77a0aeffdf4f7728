//! Reading a final answer out of a candidate's text ([`Extractor`]: `\boxed{}`, a "Final answer:"
//! line, a JSON field, an option letter, or automatic) and normalizing it, so that answers that
//! say the same thing compare equal ("$1,000." and "1000").
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::parse::{find_ci, json_objects};

/// How a final answer is read out of a candidate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub enum Extractor {
    /// `\boxed{}`, else a "Final answer:" line, else the whole text.
    #[default]
    Auto,
    /// The last `\boxed{...}`.
    Boxed,
    /// What follows the last "Final answer:" (or "Final answer is"), to the end of its line.
    FinalAnswer,
    /// An option letter A-J: "answer is (C)", "Answer: C", a text that is just "C" or "(C)".
    Letter,
    /// A field of the last JSON object in the text (`a.b` for a nested one).
    Json(String),
}

impl TryFrom<Value> for Extractor {
    type Error = String;
    fn try_from(v: Value) -> Result<Extractor, String> {
        const EXPECTED: &str = "expected \"auto\", \"boxed\", \"final_answer\", \"letter\", \"json:<field>\" or {\"json\": \"<field>\"}";
        match &v {
            Value::String(s) => match s.as_str() {
                "auto" => Ok(Extractor::Auto),
                "boxed" => Ok(Extractor::Boxed),
                "final_answer" | "finalAnswer" => Ok(Extractor::FinalAnswer),
                "letter" => Ok(Extractor::Letter),
                s => match s.strip_prefix("json:") {
                    Some(f) if !f.trim().is_empty() => Ok(Extractor::Json(f.trim().to_string())),
                    _ => Err(format!("{EXPECTED}, got \"{s}\"")),
                },
            },
            Value::Object(m) if m.len() == 1 => match m.get("json") {
                Some(Value::String(f)) if !f.trim().is_empty() => {
                    Ok(Extractor::Json(f.trim().to_string()))
                }
                _ => Err(format!("{EXPECTED}, got {v}")),
            },
            _ => Err(format!("{EXPECTED}, got {v}")),
        }
    }
}

impl From<Extractor> for Value {
    fn from(e: Extractor) -> Value {
        Value::String(match e {
            Extractor::Auto => "auto".into(),
            Extractor::Boxed => "boxed".into(),
            Extractor::FinalAnswer => "final_answer".into(),
            Extractor::Letter => "letter".into(),
            Extractor::Json(f) => format!("json:{f}"),
        })
    }
}

/// The longest whole text the automatic extractor counts as a short answer (a debate then ends
/// with a vote).
const SHORT_ANSWER: usize = 80;

impl Extractor {
    /// The answer `text` states, as written (not normalized); `None` when it states none.
    pub fn extract(&self, text: &str) -> Option<String> {
        let found = match self {
            Extractor::Auto => boxed(text)
                .or_else(|| final_answer(text))
                .or_else(|| Some(text.trim().to_string())),
            Extractor::Boxed => boxed(text),
            Extractor::FinalAnswer => final_answer(text),
            Extractor::Letter => letter(text),
            Extractor::Json(field) => json_field(text, field),
        };
        found.filter(|a| !normalize(a).is_empty())
    }

    /// Whether `text` states a short, explicit answer (what a vote can count).
    pub fn short_answer(&self, text: &str) -> bool {
        match self {
            Extractor::Auto => {
                boxed(text).or_else(|| final_answer(text)).is_some()
                    || (text.trim().chars().count() <= SHORT_ANSWER && !text.trim().contains('\n'))
            }
            other => other.extract(text).is_some(),
        }
    }
}

/// The content of the last `\boxed{...}` (nested braces kept).
fn boxed(text: &str) -> Option<String> {
    let start = text.rfind("\\boxed{")? + "\\boxed{".len();
    let mut depth = 1usize;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(text[start..start + i].trim().to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// What follows the last "final answer" (then `:` or "is"), to the end of its line.
fn final_answer(text: &str) -> Option<String> {
    let mut at = None;
    let mut from = 0;
    while let Some(i) = find_ci(&text[from..], "final answer") {
        at = Some(from + i + "final answer".len());
        from += i + 1;
    }
    let rest = &text[at?..];
    let rest = rest.trim_start_matches(['*', ' ', '\t']);
    let rest = rest
        .strip_prefix(':')
        .or_else(|| rest.strip_prefix("is "))
        .or_else(|| rest.strip_prefix("is:"))?;
    let line = rest
        .trim_start_matches(['*', ' ', '\t', '\n', '\r'])
        .lines()
        .next()?;
    let line = line.trim().trim_matches('*').trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// An option letter A-J.
fn letter(text: &str) -> Option<String> {
    let is_opt = |c: char| ('A'..='J').contains(&c);
    // The whole text is one letter: "C", "(C)", "C.", "**C**".
    let bare = text.trim().trim_matches(|c: char| "()[]*.: ".contains(c));
    if bare.chars().count() == 1 && bare.chars().all(|c| is_opt(c.to_ascii_uppercase())) {
        return Some(bare.to_ascii_uppercase());
    }
    // "answer is (C)", "answer: C", "Answer - C": the last such phrase.
    let mut found = None;
    let mut from = 0;
    while let Some(i) = find_ci(&text[from..], "answer") {
        let after = &text[from + i + "answer".len()..];
        let after = after.trim_start_matches(|c: char| " \t:*-".contains(c));
        let after = after.strip_prefix("is").unwrap_or(after);
        let after = after.trim_start_matches(|c: char| " \t:*(".contains(c));
        let mut chars = after.chars();
        if let Some(c) = chars.next() {
            let next = chars.next();
            if is_opt(c) && next.is_none_or(|n| !n.is_alphanumeric()) {
                found = Some(c.to_string());
            }
        }
        from += i + 1;
    }
    if found.is_some() {
        return found;
    }
    // The last "(C)".
    let b = text.as_bytes();
    (0..b.len().saturating_sub(2))
        .rev()
        .find(|&i| b[i] == b'(' && is_opt(b[i + 1] as char) && b[i + 2] == b')')
        .map(|i| (b[i + 1] as char).to_string())
}

/// A field of the last JSON object in the text that has it.
fn json_field(text: &str, path: &str) -> Option<String> {
    json_objects(text).into_iter().find_map(|(v, _)| {
        let mut cur = &v;
        for part in path.split('.') {
            cur = cur.get(part)?;
        }
        match cur {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    })
}

/// An answer as compared: trimmed of markup and a final period, lower case, single spaces;
/// numbers without thousands separators or trailing zeros.
pub fn normalize(answer: &str) -> String {
    let strip = |s: &str| -> String {
        s.trim()
            .trim_matches(|c: char| "*`\"'$".contains(c))
            .trim()
            .trim_end_matches('.')
            .trim()
            .to_string()
    };
    let mut s = strip(answer);
    loop {
        let again = strip(&s);
        if again == s {
            break;
        }
        s = again;
    }
    let words: Vec<String> = s
        .split_whitespace()
        .map(|w| number(w).unwrap_or_else(|| w.to_lowercase()))
        .collect();
    words.join(" ")
}

/// `1,000` → `1000`, `2.50` → `2.5`, `3.0` → `3`; `None` for a word that is not a number.
fn number(word: &str) -> Option<String> {
    let (sign, digits) = match word.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", word),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let grouped = int.contains(',');
    if grouped {
        let groups: Vec<&str> = int.split(',').collect();
        let ok = groups[0].len() <= 3
            && !groups[0].is_empty()
            && groups[1..].iter().all(|g| g.len() == 3);
        if !ok {
            return None;
        }
    }
    let int: String = int.chars().filter(|c| *c != ',').collect();
    if int.is_empty() || !int.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if frac.is_some_and(|f| f.is_empty() || !f.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac
        .map(|f| f.trim_end_matches('0'))
        .filter(|f| !f.is_empty());
    Some(match frac {
        Some(f) => format!("{sign}{int}.{f}"),
        None => format!("{sign}{int}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extractors_read_what_they_say() {
        let t = "Work: 2+2.\nSo \\boxed{\\frac{1}{2}} and then \\boxed{4}.";
        assert_eq!(Extractor::Boxed.extract(t).as_deref(), Some("4"));
        assert_eq!(
            Extractor::Boxed.extract("\\boxed{\\frac{1}{2}}").as_deref(),
            Some("\\frac{1}{2}")
        );
        let t = "Reasoning...\nFinal answer: 42 apples\nthanks";
        assert_eq!(
            Extractor::FinalAnswer.extract(t).as_deref(),
            Some("42 apples")
        );
        assert_eq!(
            Extractor::FinalAnswer
                .extract("**Final Answer:** 7")
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            Extractor::FinalAnswer
                .extract("The final answer is 9")
                .as_deref(),
            Some("9")
        );
        assert_eq!(
            Extractor::Letter
                .extract("I think the answer is (C).")
                .as_deref(),
            Some("C")
        );
        assert_eq!(Extractor::Letter.extract("Answer: B").as_deref(), Some("B"));
        assert_eq!(Extractor::Letter.extract("(d)").as_deref(), Some("D"));
        assert_eq!(
            Extractor::Letter
                .extract("Between (A) and (B), (B) fits")
                .as_deref(),
            Some("B")
        );
        assert_eq!(Extractor::Letter.extract("Answers vary"), None);
        let j = Extractor::Json("result.value".into());
        assert_eq!(
            j.extract("x {\"result\": {\"value\": 12}} y").as_deref(),
            Some("12")
        );
        assert_eq!(
            Extractor::Auto.extract("So the Final answer: 5").as_deref(),
            Some("5")
        );
        assert_eq!(
            Extractor::Auto.extract("  Paris ").as_deref(),
            Some("Paris")
        );
        assert_eq!(Extractor::Boxed.extract("no box"), None);
    }

    #[test]
    fn normalization_makes_equal_answers_equal() {
        assert_eq!(normalize("$1,000."), normalize("1000"));
        assert_eq!(normalize("2.50"), "2.5");
        assert_eq!(normalize("3.0"), "3");
        assert_eq!(normalize("**Paris**"), "paris");
        assert_eq!(normalize("  The   Answer "), "the answer");
        assert_eq!(normalize("1,00"), "1,00", "not a thousands separator");
        assert_eq!(normalize("-007.10"), "-7.1");
    }

    #[test]
    fn spellings_of_extractors() {
        let e: Extractor = serde_json::from_value(serde_json::json!({"json": "answer"})).unwrap();
        assert_eq!(e, Extractor::Json("answer".into()));
        let e: Extractor = serde_json::from_value(serde_json::json!("json:answer")).unwrap();
        assert_eq!(serde_json::to_value(&e).unwrap(), "json:answer");
        assert!(serde_json::from_value::<Extractor>(serde_json::json!("regex")).is_err());
    }
}
