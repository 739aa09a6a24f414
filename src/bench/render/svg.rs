//! The chart: one panel per operation, throughput against concurrency, one line per run and part size; several runs (memory sizes) merge into one chart.

use crate::bench::case::Operation;
use crate::bench::report::BenchReport;
use crate::copy::part_size::MIB;
use std::fmt::Write;

/// Panels per line of the chart.
const COLUMNS: usize = 2;
/// One panel's size in pixels, and its inner margins (axis labels, title).
const PANEL_WIDTH: f64 = 480.0;
const PANEL_HEIGHT: f64 = 300.0;
const MARGIN_LEFT: f64 = 60.0;
const MARGIN_RIGHT: f64 = 150.0;
const MARGIN_TOP: f64 = 30.0;
const MARGIN_BOTTOM: f64 = 40.0;
/// Horizontal grid lines per panel.
const Y_TICKS: usize = 5;
/// Line colours, in turn (colour-blind-safe, Okabe–Ito).
const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A round upper bound for an axis reaching `max`: 1, 2 or 5 × 10^n.
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|bound| *bound >= max)
        .unwrap_or(10.0 * magnitude)
}

/// One line of a panel.
struct Series {
    label: String,
    /// (concurrency, value), by concurrency.
    points: Vec<(usize, f64)>,
}

fn series_of(reports: &[BenchReport], operation: Operation) -> Vec<Series> {
    let mut all = Vec::new();
    for report in reports {
        let mut parts: Vec<u64> = report
            .rows
            .iter()
            .filter(|row| row.operation == operation)
            .map(|row| row.part_bytes)
            .collect();
        parts.sort_unstable();
        parts.dedup();
        for part in &parts {
            let mut points: Vec<(usize, f64)> = report
                .rows
                .iter()
                .filter(|row| row.operation == operation && row.part_bytes == *part)
                .map(|row| {
                    let value = if operation.is_small() {
                        row.requests_per_second
                    } else {
                        row.mb_per_second
                    };
                    (row.concurrency, value)
                })
                .collect();
            points.sort_by_key(|(concurrency, _)| *concurrency);
            let label = match (reports.len() > 1, parts.len() > 1 && *part > 0) {
                (true, true) => format!("{} · {} MiB", report.label, part / MIB),
                (true, false) => report.label.clone(),
                (false, true) => format!("{} MiB parts", part / MIB),
                (false, false) => operation.name().to_owned(),
            };
            all.push(Series { label, points });
        }
    }
    all
}

/// The chart of `reports` (one run, or several to compare) as an SVG document.
pub fn render(reports: &[BenchReport]) -> String {
    let operations: Vec<Operation> = Operation::ALL
        .into_iter()
        .filter(|operation| {
            reports
                .iter()
                .any(|r| r.rows.iter().any(|row| row.operation == *operation))
        })
        .collect();
    let rows_of_panels = operations.len().div_ceil(COLUMNS).max(1);
    let width = PANEL_WIDTH * COLUMNS as f64;
    let height = PANEL_HEIGHT * rows_of_panels as f64 + 30.0;
    let labels: Vec<&str> = reports.iter().map(|r| r.label.as_str()).collect();
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">bootstrap bench: throughput against concurrency ({})</text>"#,
        escape(&labels.join(", "))
    );
    for (index, operation) in operations.iter().enumerate() {
        let x0 = PANEL_WIDTH * (index % COLUMNS) as f64;
        let y0 = 30.0 + PANEL_HEIGHT * (index / COLUMNS) as f64;
        panel(
            &mut svg,
            x0,
            y0,
            *operation,
            &series_of(reports, *operation),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn panel(svg: &mut String, x0: f64, y0: f64, operation: Operation, series: &[Series]) {
    let left = x0 + MARGIN_LEFT;
    let right = x0 + PANEL_WIDTH - MARGIN_RIGHT;
    let top = y0 + MARGIN_TOP;
    let bottom = y0 + PANEL_HEIGHT - MARGIN_BOTTOM;
    let mut xs: Vec<usize> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_unstable();
    xs.dedup();
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_max = nice_ceiling(max);
    // Concurrency on a log scale: the sweeps double.
    let log = |c: usize| (c.max(1) as f64).log2();
    let (x_min, x_max) = (
        xs.first().map_or(0.0, |c| log(*c)),
        xs.last().map_or(1.0, |c| log(*c)),
    );
    let span = (x_max - x_min).max(1e-9);
    let x_at = |c: usize| {
        if xs.len() < 2 {
            (left + right) / 2.0
        } else {
            left + (log(c) - x_min) / span * (right - left)
        }
    };
    let y_at = |v: f64| bottom - v / y_max * (bottom - top);
    let unit = if operation.is_small() {
        "requests/s"
    } else {
        "MB/s"
    };
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="{}" font-size="12" font-weight="bold">{} ({unit})</text>"#,
        top - 10.0,
        operation.name()
    );
    for tick in 0..=Y_TICKS {
        let value = y_max * tick as f64 / Y_TICKS as f64;
        let y = y_at(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left - 5.0,
            y + 4.0,
            if value >= 10.0 || value == 0.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.1}")
            }
        );
    }
    for c in &xs {
        let x = x_at(*c);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{c}</text>"##,
            bottom + 4.0,
            bottom + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle">concurrency</text>"##,
        (left + right) / 2.0,
        bottom + 32.0
    );
    for (index, line) in series.iter().enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        let points: Vec<String> = line
            .points
            .iter()
            .map(|(c, v)| format!("{:.1},{:.1}", x_at(*c), y_at(*v)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        for (c, v) in &line.points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}: {v:.1} {unit} at {c}</title></circle>"#,
                x_at(*c),
                y_at(*v),
                escape(&line.label)
            );
        }
        let ly = top + 14.0 * index as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="3" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            right + 10.0,
            ly - 4.0,
            right + 24.0,
            ly,
            escape(&line.label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_ceiling(71.3), 100.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(0.4), 0.5);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("a<b & c>"), "a&lt;b &amp; c&gt;");
    }
}
