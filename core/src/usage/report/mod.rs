//! The usage report: one self-contained HTML file drawn from a ledger ([`write_report`]): the
//! period's totals, then charts of latency and time-to-first-token percentiles (p50 / p95 / p99)
//! per model over time, cost by model, route and tag, calls over time and errors by kind, and
//! retries, fallbacks and hedges. Written here, in the core, so every binding writes the same
//! report. The file has no script and loads nothing: its charts are inline SVG (`charts`, drawn
//! with plotters), its style inline CSS.
//!
//! Each chart is a `<figure class="chart" data-chart="NAME" data-marks="N">`, `N` being the data
//! marks (points, bars) drawn in it, for tests and tools that read the page.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ledger::{LedgerFilter, Reader};
use super::Level;
use crate::types::error::{Error, ErrorKind, Result};

mod charts;
mod figures;

use charts::{Bars, Chart, Clock, Line, BLUE, GREEN, GREY, ORANGE, PURPLE, RED};
use figures::{Builder, Figures, Percentiles};

/// What [`write_report`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportSummary {
    /// The HTML file written.
    pub path: PathBuf,
    /// Calls in the report.
    pub calls: u64,
    /// Their attempts.
    pub attempts: u64,
    /// Charts in the page that have data.
    pub charts: usize,
}

/// Reads the call events of the ledger at `ledger` that match `filter` (each carries its
/// attempts; attempt events are not read) and writes the report to `out` (replacing it). The
/// ledger is opened read-only: a running client may go on writing it. Events are read one at a
/// time: memory grows with the period's time buckets and groups, not with the events.
pub fn write_report(
    ledger: impl AsRef<Path>,
    out: impl AsRef<Path>,
    filter: &LedgerFilter,
) -> Result<ReportSummary> {
    let (ledger, out) = (ledger.as_ref(), out.as_ref());
    let calls = LedgerFilter {
        level: Some(Level::Call),
        ..filter.clone()
    };
    let reader = Reader::open(ledger)?;
    let (from, to) = reader.period(&calls)?.unwrap_or((0, 0));
    let mut builder = Builder::new(from, to);
    reader.each(&calls, |e| builder.add(&e))?;
    let figures = builder.finish();
    let name = ledger
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ledger.display().to_string());
    let (html, charts) = page(&name, &figures).map_err(|e| Error::new(ErrorKind::Internal, e))?;
    std::fs::write(out, html)
        .map_err(|e| Error::invalid_request(format!("report output `{}`: {e}", out.display())))?;
    Ok(ReportSummary {
        path: out.to_path_buf(),
        calls: figures.summary.total.calls,
        attempts: figures.attempts,
        charts,
    })
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;\
max-width:1180px;padding:24px;color:#222;background:#fafafa}h1{margin:0 0 4px;font-size:26px}\
h2{font-size:19px;margin:32px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.meta,.note{color:#555;margin:4px 0 12px;font-size:14px}code{background:#eee;padding:1px 4px;border-radius:3px}\
.totals{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}.stat{background:#fff;border:1px solid #e2e2e2;\
border-radius:6px;padding:10px 14px;min-width:110px}.stat .v{display:block;font-size:20px;font-weight:600}\
.stat .k{color:#666;font-size:12px}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));\
gap:14px}figure.chart{margin:0;background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:4px}\
figure.chart svg{display:block;max-width:100%;height:auto}figure.empty{padding:14px;color:#777}\
figure.empty figcaption{font-weight:600;color:#333;margin-bottom:6px}footer{margin-top:36px;color:#777;font-size:12px}";

/// The whole page, and how many of its charts have data.
fn page(ledger: &str, f: &Figures) -> std::result::Result<(String, usize), String> {
    let clock = Clock::for_period(f.bucket_ms, f.to_ms - f.from_ms);
    let bucket = f.bucket_ms as f64;
    let x0 = (f.from_ms / f.bucket_ms * f.bucket_ms) as f64;
    let x = x0..(f.to_ms / f.bucket_ms * f.bucket_ms) as f64 + bucket;
    let mut html = String::with_capacity(256 * 1024);
    let mut with_data = 0;
    let mut figure = |html: &mut String, name: &str, title: &str, chart: Option<Chart>| match chart
    {
        Some(c) if c.marks > 0 => {
            with_data += 1;
            let _ = writeln!(
                html,
                "<figure class=\"chart\" data-chart=\"{}\" data-marks=\"{}\">{}</figure>",
                escape(name),
                c.marks,
                c.svg
            );
        }
        _ => {
            let _ = writeln!(
                    html,
                    "<figure class=\"chart empty\" data-chart=\"{}\" data-marks=\"0\"><figcaption>{}</figcaption>No data in this period.</figure>",
                    escape(name),
                    escape(title)
                );
        }
    };

    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>polyfuse usage report: {}</title><style>{STYLE}</style></head><body>\n\
         <header><h1>polyfuse usage report</h1><p class=\"meta\">ledger <code>{}</code>",
        escape(ledger),
        escape(ledger)
    );
    let t = &f.summary.total;
    if t.calls == 0 {
        html.push_str(" · no events (for this filter)</p></header>\n");
    } else {
        let _ = write!(
            html,
            " · {} – {} UTC · time buckets of {}</p></header>\n<section class=\"totals\">",
            escape(&utc(f.from_ms)),
            escape(&utc(f.to_ms)),
            duration(f.bucket_ms)
        );
        let error_rate = if t.calls > 0 {
            format!(" ({:.1} %)", t.errors as f64 * 100.0 / t.calls as f64)
        } else {
            String::new()
        };
        for (v, k) in [
            (thousands(t.calls), "calls".to_string()),
            (thousands(t.ok), "ok".to_string()),
            (thousands(t.errors), format!("errors{error_rate}")),
            (thousands(t.cancelled), "cancelled".to_string()),
            (thousands(f.attempts), "attempts".to_string()),
            (thousands(t.input_tokens), "input tokens".to_string()),
            (thousands(t.output_tokens), "output tokens".to_string()),
            (usd(t.cost_usd), "cost (known)".to_string()),
        ] {
            let _ = write!(
                html,
                "<div class=\"stat\"><span class=\"v\">{}</span><span class=\"k\">{}</span></div>",
                escape(&v),
                escape(&k)
            );
        }
        html.push_str("</section>\n");
    }

    // Latency and TTFT per model.
    let _ = writeln!(
        html,
        "<section><h2>Latency and time to first token per model</h2><p class=\"note\">p50 / p95 / \
         p99 of the calls each model answered (the model of their last attempt), per {} bucket, in \
         ms, as <code>client.usage()</code> reports them.{}</p><div class=\"grid\">",
        duration(f.bucket_ms),
        if f.other_models > 0 {
            format!(" {} less used models are not shown.", f.other_models)
        } else {
            String::new()
        }
    );
    let mid = |p: &Percentiles, i: usize| (p.0 as f64 + bucket / 2.0, p.1[i]);
    // p99 drawn first, p50 last: where they meet (few samples), the lower one shows on top.
    let percentile_lines = |points: &[Percentiles]| -> Vec<Line> {
        [(2, "p99", RED), (1, "p95", ORANGE), (0, "p50", BLUE)]
            .iter()
            .map(|(i, label, color)| Line {
                label: label.to_string(),
                color: *color,
                points: points.iter().map(|p| mid(p, *i)).collect(),
            })
            .collect()
    };
    if f.models.is_empty() {
        figure(&mut html, "latency", "Latency", None);
    }
    for m in &f.models {
        let model = charts::short(&m.model, 48);
        for (name, what, points) in [
            ("latency", "latency", &m.latency),
            ("ttft", "time to first token", &m.ttft),
        ] {
            let title = format!("{model}: {what} ({} calls)", thousands(m.calls));
            let chart = (!points.is_empty())
                .then(|| charts::lines(&title, "ms", x.clone(), clock, &percentile_lines(points)))
                .transpose()?;
            figure(&mut html, name, &title, chart);
        }
    }
    html.push_str("</div></section>\n");

    // Cost.
    let _ = writeln!(
        html,
        "<section><h2>Cost</h2><p class=\"note\">USD of the calls (every attempt included, at what \
         the provider billed), by the model that answered, by route and by tag.{}</p><div class=\"grid\">",
        if t.unpriced_calls > 0 {
            format!(
                " {} calls of unknown cost (a model with no price) are left out.",
                thousands(t.unpriced_calls)
            )
        } else {
            String::new()
        }
    );
    for (name, title, data, color) in [
        ("cost-model", "Cost by model", &f.cost_by_model, BLUE),
        ("cost-route", "Cost by route", &f.cost_by_route, PURPLE),
        ("cost-tag", "Cost by tag", &f.cost_by_tag, GREEN),
    ] {
        figure(&mut html, name, title, bar_chart(title, data, color, &usd)?);
    }
    html.push_str("</div></section>\n");

    // Calls and errors.
    html.push_str(
        "<section><h2>Calls and errors</h2><p class=\"note\">Calls by outcome over time; errors by \
         kind, as calls ended and as attempts ended (retried, fallen back or not).</p><div class=\"grid\">\n",
    );
    let buckets: Vec<(f64, Vec<f64>)> = f
        .calls_over_time
        .iter()
        .map(|(b, v)| (*b as f64, v.to_vec()))
        .collect();
    let chart = (!buckets.is_empty())
        .then(|| {
            charts::stacked(
                "Calls over time",
                x.clone(),
                clock,
                bucket,
                &buckets,
                &[("ok", GREEN), ("error", RED), ("cancelled", GREY)],
            )
        })
        .transpose()?;
    figure(&mut html, "calls", "Calls over time", chart);
    let kinds: Vec<String> = f.errors.iter().map(|(k, _)| k.clone()).collect();
    let chart = (!kinds.is_empty())
        .then(|| {
            charts::bars(
                "Errors by kind",
                &kinds,
                &[
                    Bars {
                        label: "calls".into(),
                        color: RED,
                        values: f.errors.iter().map(|(_, v)| v[0]).collect(),
                    },
                    Bars {
                        label: "attempts".into(),
                        color: ORANGE,
                        values: f.errors.iter().map(|(_, v)| v[1]).collect(),
                    },
                ],
                &count,
            )
        })
        .transpose()?;
    figure(&mut html, "errors", "Errors by kind", chart);
    html.push_str("</div></section>\n");

    // Retries, fallbacks, hedges.
    html.push_str(
        "<section><h2>Retries, fallbacks and hedges</h2><p class=\"note\">Attempts after a call's \
         first (the same target again, another target, a hedge's backup), calls a fallback \
         answered, hedges sent, and calls by number of attempts.</p><div class=\"grid\">\n",
    );
    let title = "Retries, fallbacks and hedges";
    let any = f.retries.iter().any(|(_, n)| *n > 0.0);
    let chart = if any {
        bar_chart(title, &f.retries, ORANGE, &count)?
    } else {
        None
    };
    figure(&mut html, "retries", title, chart);
    let title = "Calls by number of attempts";
    figure(
        &mut html,
        "attempts-per-call",
        title,
        bar_chart(title, &f.attempts_per_call, BLUE, &count)?,
    );
    html.push_str("</div></section>\n");

    let _ = write!(
        html,
        "<footer>Written by polyfuse {} from the ledger <code>{}</code>. Charts drawn with plotters \
         as inline SVG: this file runs no script and loads nothing from the network.</footer>\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(ledger)
    );
    Ok((html, with_data))
}

/// One series of horizontal bars, or `None` without data.
fn bar_chart(
    title: &str,
    data: &[(String, f64)],
    color: plotters::style::RGBColor,
    fmt: &dyn Fn(f64) -> String,
) -> std::result::Result<Option<Chart>, String> {
    if data.is_empty() {
        return Ok(None);
    }
    let categories: Vec<String> = data.iter().map(|(k, _)| k.clone()).collect();
    let series = [Bars {
        label: title.to_string(),
        color,
        values: data.iter().map(|(_, v)| *v).collect(),
    }];
    charts::bars(title, &categories, &series, fmt).map(Some)
}

/// `&`, `<`, `>` and `"` escaped, for text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A time as `06 Nov 1994 08:49:37` (UTC).
fn utc(ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let s = httpdate::fmt_http_date(at);
    s.get(5..25).map(str::to_string).unwrap_or(s)
}

/// A bucket width in words.
fn duration(ms: u64) -> String {
    match ms {
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{} s", ms / 1_000),
        ms if ms < 3_600_000 => format!("{} min", ms / 60_000),
        ms if ms < 86_400_000 => format!("{} h", ms / 3_600_000),
        ms => format!("{} d", ms / 86_400_000),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn count(v: f64) -> String {
    thousands(v.max(0.0).round() as u64)
}

/// USD with the decimals that matter: `$12.34`, `$0.00123`.
fn usd(v: f64) -> String {
    if v == 0.0 {
        "$0".to_string()
    } else if v.abs() >= 1.0 {
        format!("${v:.2}")
    } else {
        let decimals = ((-v.abs().log10()).ceil() as usize + 2).min(9);
        format!("${v:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(usd(0.00123), "$0.00123");
        assert_eq!(usd(0.5), "$0.500");
        assert_eq!(utc(0), "01 Jan 1970 00:00:00");
        assert_eq!(Clock::Seconds.label(3_723_000.0), "01:02:03");
        assert_eq!(Clock::Tenths.label(3_723_456.0), "01:02:03.4");
        assert_eq!(Clock::Dated.label(3_723_000.0), "01 Jan 01:02");
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
        assert_eq!(duration(120_000), "2 min");
    }
}
