//! The report's charts, drawn as SVG text with plotters (line charts over time, horizontal bar
//! charts by category, stacked bars over time). Each returns the SVG and how many data marks it
//! drew (points or bars), which the page records on the chart's figure.
//!
//! Why plotters' SVG backend: it is the most used Rust charting crate, and its SVG output makes a
//! report self-contained by construction (no JavaScript, nothing fetched when the file is
//! opened). Without its `ttf` feature it needs no system fonts: text is laid out by an estimate
//! and drawn by the browser's own sans-serif font.
use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A drawn chart: its SVG and the number of data marks in it.
pub(super) struct Chart {
    pub svg: String,
    pub marks: usize,
}

/// A line: its label, color and points `(x, y)`.
pub(super) struct Line {
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// A series of bars: its label, color and one value per category.
pub(super) struct Bars {
    pub label: String,
    pub color: RGBColor,
    pub values: Vec<f64>,
}

pub(super) const BLUE: RGBColor = RGBColor(31, 119, 180);
pub(super) const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub(super) const GREEN: RGBColor = RGBColor(44, 160, 44);
pub(super) const RED: RGBColor = RGBColor(214, 39, 40);
pub(super) const GREY: RGBColor = RGBColor(140, 140, 140);
pub(super) const PURPLE: RGBColor = RGBColor(148, 103, 189);
const AXIS: RGBColor = RGBColor(90, 90, 90);
const GRID: RGBColor = RGBColor(232, 232, 232);

const WIDTH: u32 = 560;
const FONT: &str = "sans-serif";

type Failed = String;

fn err<E: std::fmt::Display>(e: E) -> Failed {
    format!("drawing a chart failed: {e}")
}

/// How precise the time axis' labels are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Clock {
    /// `08:49:37.5`, for buckets under a second.
    Tenths,
    /// `08:49:37`.
    Seconds,
    /// `06 Nov 08:49`, for periods over a day.
    Dated,
}

impl Clock {
    /// The labels for buckets of `bucket_ms` over a period of `span_ms`.
    pub(super) fn for_period(bucket_ms: u64, span_ms: u64) -> Clock {
        if span_ms > 86_400_000 {
            Clock::Dated
        } else if bucket_ms < 1_000 {
            Clock::Tenths
        } else {
            Clock::Seconds
        }
    }

    /// A time in ms since the epoch (UTC).
    pub(super) fn label(self, ms: f64) -> String {
        let ms = ms.max(0.0) as u64;
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
        // IMF-fixdate, fixed width: "Sun, 06 Nov 1994 08:49:37 GMT".
        let s = httpdate::fmt_http_date(at);
        match (self, s.get(5..11), s.get(17..25)) {
            (Clock::Dated, Some(day), Some(time)) => format!("{day} {}", &time[..5]),
            (Clock::Tenths, _, Some(time)) => format!("{time}.{}", ms % 1000 / 100),
            (_, _, Some(time)) => time.to_string(),
            _ => s,
        }
    }
}

fn frame(svg: &mut String, height: u32) -> Result<DrawingArea<SVGBackend<'_>, Shift>, Failed> {
    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    Ok(root)
}

/// A chart with a time axis and a linear value axis from 0 to `ymax`.
type Plane<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart over time: the frame, the axes and the legend; `series` draws into it and says how
/// many data marks it drew.
fn over_time(
    title: &str,
    y_unit: &str,
    x: Range<f64>,
    ymax: f64,
    clock: Clock,
    series: impl FnOnce(&mut Plane<'_, '_>) -> Result<usize, Failed>,
) -> Result<Chart, Failed> {
    let mut svg = String::new();
    let marks;
    {
        let root = frame(&mut svg, 280)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 15))
            .margin(10)
            .margin_right(28)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(x, 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(AXIS)
            .x_labels(5)
            .y_labels(6)
            .x_label_formatter(&|t| clock.label(*t))
            .y_label_formatter(&|v| number(*v))
            .y_desc(y_unit)
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        marks = series(&mut chart)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(err)?;
    }
    Ok(Chart { svg, marks })
}

/// The series' labels, in a box at `position`.
fn legend<'a, 'b: 'a>(
    chart: &mut Plane<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), Failed> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font((FONT, 11))
        .draw()
        .map_err(err)
}

/// The highest value, with room above it.
fn headroom(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, f64::max).max(1.0) * 1.15
}

/// Lines over time: `x` is the time range (ms), values on a linear axis from 0, points marked.
pub(super) fn lines(
    title: &str,
    y_unit: &str,
    x: Range<f64>,
    clock: Clock,
    lines: &[Line],
) -> Result<Chart, Failed> {
    let ymax = headroom(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    over_time(title, y_unit, x, ymax, clock, |chart| {
        let mut marks = 0;
        for (i, line) in lines.iter().enumerate() {
            // Earlier lines wider, so that a later one drawn over them leaves their edges.
            let style = line
                .color
                .stroke_width(if i + 1 < lines.len() { 3 } else { 2 });
            let color = line.color;
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(err)?
                .label(line.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|p| Circle::new(*p, 2.5, line.color.filled())),
                )
                .map_err(err)?;
            marks += line.points.len();
        }
        Ok(marks)
    })
}

/// Horizontal bars, one group per category (largest first, at the top), each bar labelled with
/// its value written by `fmt`.
pub(super) fn bars(
    title: &str,
    categories: &[String],
    series: &[Bars],
    fmt: &dyn Fn(f64) -> String,
) -> Result<Chart, Failed> {
    let n = categories.len().max(1);
    let k = series.len().max(1);
    let xmax = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.3;
    let longest = categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4);
    let label_area = (longest.min(42) as u32 * 7 + 12).clamp(60, 300);
    let height = 64 + (n * k) as u32 * 16 + n as u32 * 8 + if k > 1 { 20 } else { 0 };
    // Category i (0 = first = largest) sits at the top: plotted at n - 1 - i.
    let slot = |i: usize| (n - 1 - i) as f64;
    let mut svg = String::new();
    let mut marks = 0;
    {
        let root = frame(&mut svg, height)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 15))
            .margin(10)
            .margin_right(28)
            .x_label_area_size(24)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0f64..xmax, 0f64..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(AXIS)
            .x_labels(5)
            .y_labels(0)
            .x_label_formatter(&|v| fmt(*v))
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        // The category names, right-aligned left of the axis, at each group's middle.
        let name_style = (FONT, 11)
            .into_font()
            .color(&AXIS)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, c) in categories.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0.0, slot(i) + 0.5));
            root.draw(&Text::new(short(c, 42), (px - 6, py), name_style.clone()))
                .map_err(err)?;
        }
        let h = 0.8 / k as f64;
        for (s, bars) in series.iter().enumerate() {
            let color = bars.color;
            let placed: Vec<(f64, f64, f64)> = bars
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let y0 = slot(i) + 0.1 + (k - 1 - s) as f64 * h;
                    (*v, y0, y0 + h)
                })
                .collect();
            let drawn = chart
                .draw_series(placed.iter().map(|(v, y0, y1)| {
                    Rectangle::new([(0.0, *y0), (*v, *y1 - 0.02)], color.filled())
                }))
                .map_err(err)?;
            if k > 1 {
                drawn.label(bars.label.as_str()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            }
            let label = (FONT, 11)
                .into_font()
                .color(&AXIS)
                .pos(Pos::new(HPos::Left, VPos::Center));
            chart
                .draw_series(placed.iter().map(|(v, y0, y1)| {
                    Text::new(
                        format!(" {}", fmt(*v)),
                        (*v, (y0 + y1) / 2.0),
                        label.clone(),
                    )
                }))
                .map_err(err)?;
            marks += placed.iter().filter(|p| p.0 > 0.0).count();
        }
        if k > 1 {
            legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        root.present().map_err(err)?;
    }
    Ok(Chart { svg, marks })
}

/// Stacked bars over time: one bar per bucket (`width` ms), its segments in `series` order.
pub(super) fn stacked(
    title: &str,
    x: Range<f64>,
    clock: Clock,
    width: f64,
    buckets: &[(f64, Vec<f64>)],
    series: &[(&str, RGBColor)],
) -> Result<Chart, Failed> {
    let ymax = headroom(buckets.iter().map(|(_, v)| v.iter().sum::<f64>()));
    over_time(title, "calls", x, ymax, clock, |chart| {
        let mut marks = 0;
        for (s, (label, color)) in series.iter().enumerate() {
            let color = *color;
            let rects: Vec<Rectangle<(f64, f64)>> = buckets
                .iter()
                .filter(|(_, v)| v.get(s).is_some_and(|n| *n > 0.0))
                .map(|(t, v)| {
                    let below: f64 = v[..s].iter().sum();
                    Rectangle::new(
                        [
                            (*t + width * 0.08, below),
                            (*t + width * 0.92, below + v[s]),
                        ],
                        color.filled(),
                    )
                })
                .collect();
            marks += rects.len();
            chart
                .draw_series(rects)
                .map_err(err)?
                .label(*label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        Ok(marks)
    })
}

/// A number for an axis: no decimals from 10 up, one below.
pub(super) fn number(v: f64) -> String {
    if v.abs() >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub(super) fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}
