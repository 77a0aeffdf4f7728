//! Reading the judge: JSON wherever it is (the last balanced `{...}` or fenced block, parsed
//! tolerantly), verdicts validated against the labels that were issued, textual patterns
//! (`[[B]]`, "Response B", "winner: B"), and the `FINAL ANSWER:` marker of a one-call merge, also
//! as the judge's text streams in ([`MarkerScanner`]).
use std::collections::BTreeMap;

use serde_json::Value;

use super::result::ParsePath;

/// Byte offset of `needle` (ASCII) in `hay`, ignoring ASCII case.
pub fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len())
        .find(|&i| hay.is_char_boundary(i) && h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// JSON parsed tolerantly: as is, else with smart quotes, trailing commas and Python's
/// `True` / `False` / `None` repaired.
fn tolerant(s: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(s) {
        return Some(v);
    }
    let mut out = String::with_capacity(s.len());
    let mut in_str = false;
    let mut escaped = false;
    let chars: Vec<char> = s
        .chars()
        .map(|c| match c {
            '\u{201c}' | '\u{201d}' => '"',
            c => c,
        })
        .collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            ',' => {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if !matches!(next, Some('}' | ']')) {
                    out.push(c);
                }
            }
            _ => {
                let word: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphabetic())
                    .collect();
                let fixed = match word.as_str() {
                    "True" => Some("true"),
                    "False" => Some("false"),
                    "None" => Some("null"),
                    _ => None,
                };
                match fixed {
                    Some(f) => {
                        out.push_str(f);
                        i += word.chars().count();
                        continue;
                    }
                    None => out.push(c),
                }
            }
        }
        i += 1;
    }
    serde_json::from_str(&out).ok()
}

/// Spans of the top-level balanced `{...}` in `text` (strings and escapes respected).
fn balanced_objects(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let (mut in_str, mut escaped) = (false, false);
    for (i, c) in text.char_indices() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if depth > 0 => in_str = true,
            '{' => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    spans.push((start, i + 1));
                }
            }
            _ => {}
        }
    }
    spans
}

/// Spans of the contents of fenced blocks (```` ```json ... ``` ````).
fn fenced_blocks(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("```") {
        let open = from + open + 3;
        let body = match text[open..].find('\n') {
            Some(nl) => open + nl + 1,
            None => break,
        };
        let Some(close) = text[body..].find("```") else {
            break;
        };
        spans.push((body, body + close));
        from = body + close + 3;
    }
    spans
}

/// Every JSON object in `text`, the last first: fenced blocks (path `fenced_json`) and balanced
/// objects outside them (path `json`).
pub fn json_objects(text: &str) -> Vec<(Value, ParsePath)> {
    let fenced = fenced_blocks(text);
    let mut found: Vec<(usize, Value, ParsePath)> = Vec::new();
    for &(a, b) in &fenced {
        if let Some(v) = tolerant(text[a..b].trim()).filter(Value::is_object) {
            found.push((b, v, ParsePath::FencedJson));
        }
    }
    for (a, b) in balanced_objects(text) {
        if fenced.iter().any(|&(fa, fb)| a >= fa && b <= fb) {
            continue;
        }
        if let Some(v) = tolerant(&text[a..b]) {
            found.push((b, v, ParsePath::Json));
        }
    }
    found.sort_by_key(|x| std::cmp::Reverse(x.0));
    found.into_iter().map(|(_, v, p)| (v, p)).collect()
}

/// A label as a judge may write it: `B`, `"b"`, `Response B`, `[[B]]`, `Candidate B`.
fn clean_label(s: &str) -> String {
    let s = s
        .trim()
        .trim_matches(|c: char| "[]()\"'*`.:".contains(c))
        .trim();
    let lower = s.to_ascii_lowercase();
    let s = ["response ", "candidate ", "answer "]
        .iter()
        .find_map(|p| lower.starts_with(p).then(|| &s[p.len()..]))
        .unwrap_or(s);
    s.trim().to_ascii_uppercase()
}

/// A judge's verdict, its labels validated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    pub winner: String,
    pub scores: BTreeMap<String, f64>,
    pub confidence: Option<String>,
    pub rationale: Option<String>,
}

/// Reads a verdict from JSON; `Err` says what was wrong (for the repair call).
fn verdict_from(v: &Value, labels: &[String]) -> Result<Verdict, String> {
    let issued = |l: &str| labels.iter().any(|x| x == l);
    let mut scores = BTreeMap::new();
    if let Some(s) = v.get("scores") {
        let Some(obj) = s.as_object() else {
            return Err("`scores` must be an object of label -> number".into());
        };
        for (k, score) in obj {
            let label = clean_label(k);
            if !issued(&label) {
                return Err(format!(
                    "`scores` names `{k}`, which is not one of the labels"
                ));
            }
            let n = score
                .as_f64()
                .or_else(|| score.as_str().and_then(|s| s.trim().parse().ok()));
            match n {
                Some(n) if (0.0..=10.0).contains(&n) => {
                    scores.insert(label, n);
                }
                _ => return Err(format!("the score of `{k}` must be a number from 0 to 10")),
            }
        }
    }
    let winner = match v.get("winner") {
        Some(Value::String(w)) => {
            let w = clean_label(w);
            if !issued(&w) {
                return Err(format!("`winner` is `{w}`, which is not one of the labels"));
            }
            w
        }
        Some(_) => return Err("`winner` must be a label string".into()),
        None => {
            let best = scores.values().copied().fold(f64::MIN, f64::max);
            let top: Vec<&String> = scores
                .iter()
                .filter(|(_, s)| **s == best)
                .map(|(l, _)| l)
                .collect();
            match top.as_slice() {
                [one] => (*one).clone(),
                _ => return Err("no `winner` (and no single best score)".into()),
            }
        }
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Verdict {
        winner,
        scores,
        confidence: text("confidence"),
        rationale: text("rationale"),
    })
}

/// The verdict in the judge's JSON (the last object that is a valid verdict), with the path it
/// came by; `Err` says what was wrong with the last verdict-like object, for the repair call.
pub fn json_verdict(text: &str, labels: &[String]) -> Result<(Verdict, ParsePath), String> {
    let mut problem = None;
    for (v, path) in json_objects(text) {
        if v.get("winner").is_none() && v.get("scores").is_none() {
            continue;
        }
        match verdict_from(&v, labels) {
            Ok(verdict) => return Ok((verdict, path)),
            Err(p) => {
                problem.get_or_insert(p);
            }
        }
    }
    Err(problem.unwrap_or_else(|| "no JSON object with `winner` and `scores` was found".into()))
}

/// A label named by a textual pattern: the last `[[X]]`; else "winner / best response / most
/// consistent response is X"; else "Response X" or "Candidate X" when only one label is named.
pub fn pattern_label(text: &str, labels: &[String]) -> Option<String> {
    let issued = |l: &str| labels.iter().any(|x| x == l).then(|| l.to_string());
    let mut last = None;
    let mut from = 0;
    while let Some(i) = text[from..].find("[[") {
        let start = from + i + 2;
        if let Some(j) = text[start..].find("]]") {
            if let Some(l) = issued(&clean_label(&text[start..start + j])) {
                last = Some(l);
            }
        }
        from = start;
    }
    if last.is_some() {
        return last;
    }
    let label_after = |rest: &str| -> Option<String> {
        let rest = rest.trim_start_matches(|c: char| " \t:*\"'-=".contains(c));
        let rest = rest
            .get(..3)
            .filter(|h| h.eq_ignore_ascii_case("is "))
            .map_or(rest, |_| &rest[3..]);
        let rest = ["response ", "candidate "]
            .iter()
            .find_map(|p| {
                rest.get(..p.len())
                    .filter(|h| h.eq_ignore_ascii_case(p))
                    .map(|_| &rest[p.len()..])
            })
            .unwrap_or(rest);
        let rest = rest.trim_start_matches(|c: char| " \t\"'*([".contains(c));
        let end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let word = &rest[..end];
        (word.len() == 1 || word.chars().all(|c| c.is_ascii_uppercase()))
            .then(|| issued(&word.to_ascii_uppercase()))
            .flatten()
    };
    for cue in [
        "winner",
        "best response is",
        "most consistent response is",
        "better response is",
    ] {
        let mut from = 0;
        let mut found = None;
        while let Some(i) = find_ci(&text[from..], cue) {
            let at = from + i + cue.len();
            if let Some(l) = label_after(&text[at..]) {
                found = Some(l);
            }
            from = at;
        }
        if found.is_some() {
            return found;
        }
    }
    let mut named: Vec<String> = Vec::new();
    for cue in ["response ", "candidate "] {
        let mut from = 0;
        while let Some(i) = find_ci(&text[from..], cue) {
            let at = from + i + cue.len();
            let rest = &text[at..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            if end == 1 {
                if let Some(l) = issued(&rest[..1]) {
                    if !named.contains(&l) {
                        named.push(l);
                    }
                }
            }
            from = at;
        }
    }
    match named.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// The marker of a one-call merge's answer.
pub const FINAL_ANSWER: &str = "FINAL ANSWER:";

/// What follows the first `FINAL ANSWER:` (any case, bold markup trimmed).
pub fn after_marker(text: &str) -> Option<&str> {
    let at = find_ci(text, FINAL_ANSWER)? + FINAL_ANSWER.len();
    Some(text[at..].trim_start_matches('*').trim_start())
}

/// Finds the `FINAL ANSWER:` marker in text arriving in pieces, and hands out only what follows
/// it (a marker split across pieces is found; leading markup and spaces after it are dropped).
#[derive(Debug, Default)]
pub struct MarkerScanner {
    seen: String,
    found: bool,
    started: bool,
}

impl MarkerScanner {
    /// The part of `piece` to show (empty while the analysis is still coming).
    pub fn push(&mut self, piece: &str) -> String {
        let out = if self.found {
            piece.to_string()
        } else {
            self.seen.push_str(piece);
            match find_ci(&self.seen, FINAL_ANSWER) {
                Some(at) => {
                    self.found = true;
                    let rest = self.seen[at + FINAL_ANSWER.len()..].to_string();
                    self.seen.clear();
                    rest
                }
                None => return String::new(),
            }
        };
        if self.started {
            return out;
        }
        let trimmed = out.trim_start_matches(|c: char| c == '*' || c.is_whitespace());
        if !trimmed.is_empty() {
            self.started = true;
        }
        trimmed.to_string()
    }

    #[cfg(test)]
    pub fn found(&self) -> bool {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(super::super::labels::label).collect()
    }

    #[test]
    fn the_last_valid_verdict_wins_and_says_how_it_was_found() {
        let l = labels(3);
        let t = "Notes: A is wrong. {\"draft\": 1}\n{\"scores\": {\"A\": 3, \"B\": 9, \"C\": 5}, \"winner\": \"B\", \"confidence\": \"high\", \"rationale\": \"B is right\"}";
        let (v, p) = json_verdict(t, &l).unwrap();
        assert_eq!((v.winner.as_str(), p), ("B", ParsePath::Json));
        assert_eq!(v.scores["A"], 3.0);
        assert_eq!(v.confidence.as_deref(), Some("high"));
        let t = "```json\n{\"scores\": {\"A\": 8, \"B\": 2,}, \"winner\": \"Response A\",}\n```";
        let (v, p) = json_verdict(t, &l).unwrap();
        assert_eq!((v.winner.as_str(), p), ("A", ParsePath::FencedJson));
        // No winner, one best score.
        let (v, _) = json_verdict("{\"scores\": {\"A\": 1, \"C\": 7}}", &l).unwrap();
        assert_eq!(v.winner, "C");
    }

    #[test]
    fn unissued_labels_and_bad_ranges_are_problems() {
        let l = labels(2);
        let e = json_verdict("{\"winner\": \"D\", \"scores\": {\"A\": 1}}", &l).unwrap_err();
        assert!(e.contains("`D`"), "{e}");
        let e = json_verdict("{\"winner\": \"A\", \"scores\": {\"A\": 11}}", &l).unwrap_err();
        assert!(e.contains("0 to 10"), "{e}");
        let e = json_verdict("{\"winner\": \"A\", \"scores\": {\"Z\": 1}}", &l).unwrap_err();
        assert!(e.contains("`Z`"), "{e}");
        assert!(json_verdict("I like B", &l).is_err());
        assert!(json_verdict("{\"winner\": \"A\", broken", &l).is_err());
    }

    #[test]
    fn textual_patterns() {
        let l = labels(3);
        assert_eq!(
            pattern_label("After review: [[B]]", &l).as_deref(),
            Some("B")
        );
        assert_eq!(
            pattern_label("[[A]] first, final [[C]]", &l).as_deref(),
            Some("C")
        );
        assert_eq!(pattern_label("[[Z]]", &l), None);
        assert_eq!(
            pattern_label("Response B is clearly the most complete.", &l).as_deref(),
            Some("B")
        );
        assert_eq!(
            pattern_label("Response B beats Response A.", &l),
            None,
            "ambiguous"
        );
        assert_eq!(
            pattern_label("Response B beats Response A. Winner: B", &l).as_deref(),
            Some("B")
        );
        assert_eq!(
            pattern_label("The most consistent response is Response C.", &l).as_deref(),
            Some("C")
        );
        assert_eq!(
            pattern_label("\"winner\": \"A\" (json cut", &l).as_deref(),
            Some("A")
        );
        assert_eq!(
            pattern_label("The winner is Response A.", &l).as_deref(),
            Some("A")
        );
        assert_eq!(pattern_label("Both are fine", &l), None);
    }

    #[test]
    fn python_literals_and_smart_quotes_are_repaired() {
        let v = json_objects("{\u{201c}ok\u{201d}: True, \"n\": None, \"s\": \"True, x\",}");
        assert_eq!(
            v[0].0,
            serde_json::json!({"ok": true, "n": null, "s": "True, x"})
        );
    }

    #[test]
    fn the_marker_is_found_across_pieces() {
        let mut m = MarkerScanner::default();
        let pieces = [
            "Analysis: A and B agree. FINAL ",
            "ANS",
            "WER: ** ",
            "",
            "Paris",
            " is the capital.",
        ];
        let shown: String = pieces.iter().map(|p| m.push(p)).collect();
        assert!(m.found());
        assert_eq!(shown, "Paris is the capital.");
        assert_eq!(after_marker("x\nfinal answer: y"), Some("y"));
        assert_eq!(after_marker("no marker"), None);
    }
}
