//! Reading a ledger: [`LedgerFilter`] (time range, model, route, level, tags, limit) as SQL with
//! numbered parameters, and [`query`], which returns the matching events.
use std::path::Path;

use rusqlite::types::Value as SqlValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::store::{int, name, open_for_reading};
use crate::types::error::{Error, Result};
use crate::usage::{Level, UsageEvent};

/// Which events to read from a ledger. Every field is optional; given ones must all match.
/// Deserializes from `{"since_ms", "until_ms", "model", "route", "level", "tags", "limit"}`
/// (what the bindings pass).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerFilter {
    /// Events that started at or after this time (milliseconds since the Unix epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// Events that started before this time (milliseconds since the Unix epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// The event's model, exactly (`provider/model` for an attempt; what was requested for a
    /// call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The route's name, exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Attempt or call events only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Tags the event must carry with these values (JSON equality: `"1"` is not `1`).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub tags: Map<String, Value>,
    /// At most this many events: the first ones, in the order they were written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl LedgerFilter {
    /// Reads a filter from a JSON value (a Python dict or JS object converted); an error names
    /// the key that was wrong.
    pub fn from_value(value: Value) -> Result<LedgerFilter> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                Error::invalid_request(format!("ledger filter: {inner}"))
            } else {
                Error::invalid_request(format!("ledger filter key `{path}`: {inner}"))
            }
        })
    }

    /// ` WHERE ... ORDER BY seq LIMIT ...` and its parameters, numbered in order.
    pub(crate) fn where_clause(&self) -> (String, Vec<SqlValue>) {
        let mut q = Clause::default();
        if let Some(t) = self.since_ms {
            let p = q.arg(SqlValue::Integer(int(t)));
            q.cond.push(format!("started_at_ms >= {p}"));
        }
        if let Some(t) = self.until_ms {
            let p = q.arg(SqlValue::Integer(int(t)));
            q.cond.push(format!("started_at_ms < {p}"));
        }
        if let Some(m) = &self.model {
            let p = q.arg(SqlValue::Text(m.clone()));
            q.cond.push(format!("model = {p}"));
        }
        if let Some(r) = &self.route {
            let p = q.arg(SqlValue::Text(r.clone()));
            q.cond.push(format!("route = {p}"));
        }
        if let Some(level) = self.level.as_ref().and_then(name) {
            let p = q.arg(SqlValue::Text(level));
            q.cond.push(format!("level = {p}"));
        }
        for (key, value) in &self.tags {
            let k = q.arg(SqlValue::Text(key.clone()));
            // JSON equality, by the type `json_each` reports.
            let test = match value {
                Value::Null => "t.type = 'null'".to_string(),
                Value::Bool(b) => format!("t.type = '{b}'"),
                Value::String(s) => {
                    format!(
                        "t.type = 'text' AND t.value = {}",
                        q.arg(SqlValue::Text(s.clone()))
                    )
                }
                Value::Number(n) => match n.as_i64() {
                    Some(i) => {
                        format!(
                            "t.type = 'integer' AND t.value = {}",
                            q.arg(SqlValue::Integer(i))
                        )
                    }
                    None => format!(
                        "t.type IN ('integer', 'real') AND t.value = {}",
                        q.arg(SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)))
                    ),
                },
                Value::Array(_) | Value::Object(_) => format!(
                    "t.type IN ('array', 'object') AND t.value = json({})",
                    q.arg(SqlValue::Text(value.to_string()))
                ),
            };
            q.cond.push(format!(
                "EXISTS (SELECT 1 FROM json_each(events.tags) AS t WHERE t.key = {k} AND {test})"
            ));
        }
        let mut sql = if q.cond.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", q.cond.join(" AND "))
        };
        sql.push_str(" ORDER BY seq");
        if let Some(n) = self.limit {
            let p = q.arg(SqlValue::Integer(int(n)));
            sql.push_str(&format!(" LIMIT {p}"));
        }
        (sql, q.args)
    }
}

/// Conditions being built, with their numbered parameters.
#[derive(Default)]
struct Clause {
    cond: Vec<String>,
    args: Vec<SqlValue>,
}

impl Clause {
    /// Adds a parameter; returns its placeholder (`?N`).
    fn arg(&mut self, v: SqlValue) -> String {
        self.args.push(v);
        format!("?{}", self.args.len())
    }
}

/// The events of the ledger at `path` that match `filter`, in the order they were written.
/// The file is opened read-only (a running client may be writing it meanwhile).
pub fn query(path: impl AsRef<Path>, filter: &LedgerFilter) -> Result<Vec<UsageEvent>> {
    let mut events = Vec::new();
    Reader::open(path.as_ref())?.each(filter, |e| events.push(e))?;
    Ok(events)
}

/// A ledger open for reading.
pub(crate) struct Reader<'a> {
    path: &'a Path,
    conn: rusqlite::Connection,
}

impl<'a> Reader<'a> {
    pub(crate) fn open(path: &'a Path) -> Result<Reader<'a>> {
        Ok(Reader {
            path,
            conn: open_for_reading(path)?,
        })
    }

    fn fail(&self, e: impl std::fmt::Display) -> Error {
        Error::invalid_request(format!("ledger `{}`: {e}", self.path.display()))
    }

    /// The earliest and the latest start of the events that match `filter` (`None`: no event).
    pub(crate) fn period(&self, filter: &LedgerFilter) -> Result<Option<(u64, u64)>> {
        let (clause, args) = filter.where_clause();
        let sql = format!(
            "SELECT min(started_at_ms), max(started_at_ms) FROM (SELECT started_at_ms FROM events{clause})"
        );
        let (from, to): (Option<i64>, Option<i64>) = self
            .conn
            .query_row(&sql, rusqlite::params_from_iter(args), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.fail(e))?;
        Ok(from
            .zip(to)
            .map(|(f, t)| (f.max(0) as u64, t.max(0) as u64)))
    }

    /// Hands every event that matches `filter` to `each`, in the order written, one at a time.
    pub(crate) fn each(
        &self,
        filter: &LedgerFilter,
        mut each: impl FnMut(UsageEvent),
    ) -> Result<()> {
        let (clause, args) = filter.where_clause();
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT event FROM events{clause}"))
            .map_err(|e| self.fail(e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| self.fail(e))?;
        while let Some(row) = rows.next().map_err(|e| self.fail(e))? {
            let text = row.get_ref(0).and_then(|v| v.as_str().map_err(Into::into));
            let text = text.map_err(|e| self.fail(e))?;
            let event = serde_json::from_str(text)
                .map_err(|e| self.fail(format!("an event that does not parse: {e}")))?;
            each(event);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_sql_numbers_its_parameters_in_order() {
        let f = LedgerFilter::from_value(serde_json::json!({
            "since_ms": 5, "model": "m", "level": "call",
            "tags": {"team": "a", "flag": true, "n": 3}, "limit": 10
        }))
        .unwrap();
        let (sql, args) = f.where_clause();
        assert_eq!(args.len(), 9, "{sql}");
        for i in 1..=9 {
            assert!(sql.contains(&format!("?{i}")), "?{i} in {sql}");
        }
        assert!(!sql.contains("? ") && !sql.ends_with('?'), "{sql}");
        let e = LedgerFilter::from_value(serde_json::json!({"levle": "call"})).unwrap_err();
        assert!(e.message.contains("levle"), "{}", e.message);
        let e = LedgerFilter::from_value(serde_json::json!({"level": "cal"})).unwrap_err();
        assert!(e.message.contains("`level`"), "{}", e.message);
    }
}
