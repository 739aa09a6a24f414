//! The terminal table: one line per row, then the recommendations and what was not measured.

use crate::bench::report::BenchReport;
use crate::copy::part_size::MIB;

fn mib(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))
}

/// The report as text.
pub fn render(report: &BenchReport) -> String {
    let mut text = format!(
        "bench {} · {} · {} MB · {} objects · {} round(s) · {:.1} s of {:.0} s · prices of {}\n\n",
        report.label,
        report.target,
        report.memory_mb,
        mib(report.object_bytes),
        report.rounds,
        report.elapsed_seconds,
        report.budget_seconds,
        report.prices.as_of
    );
    text.push_str(&format!(
        "{:<10} {:>8} {:>7} {:>5} {:>9} {:>8} {:>9} {:>9} {:>9} {:>10} {:>6}\n",
        "operation",
        "object",
        "part",
        "conc",
        "MB/s",
        "req/s",
        "ttfb p50",
        "p90",
        "p99",
        "$/GB",
        "rounds"
    ));
    for row in &report.rows {
        let part = if row.part_bytes == 0 {
            "—".to_owned()
        } else {
            mib(row.part_bytes)
        };
        text.push_str(&format!(
            "{:<10} {:>8} {:>7} {:>5} {:>9.1} {:>8.1} {:>9} {:>9} {:>9} {:>10.5} {:>6}\n",
            row.operation.name(),
            mib(row.object_bytes),
            part,
            row.concurrency,
            row.mb_per_second,
            row.requests_per_second,
            ms(row.ttfb_ms.p50),
            ms(row.ttfb_ms.p90),
            ms(row.ttfb_ms.p99),
            row.cost_per_gb_usd,
            row.rounds
        ));
    }
    text.push_str("(MB/s: median over rounds; ttfb in ms of the GetObject / UploadPart / UploadPartCopy / PutObject each row times; p99 with 100 samples or more)\n");
    if !report.recommendations.is_empty() {
        text.push_str(&format!("\nrecommended for {} MB:\n", report.memory_mb));
        for r in &report.recommendations {
            let basis = match r.basis {
                crate::bench::recommend::Basis::Measured => "measured",
                crate::bench::recommend::Basis::Inferred => "inferred",
            };
            text.push_str(&format!(
                "  {}={} ({basis}): {}\n",
                r.variable, r.value, r.reason
            ));
        }
    }
    if !report.not_measured.is_empty() {
        text.push_str("\nnot measured:\n");
        for skipped in &report.not_measured {
            text.push_str(&format!("  {}: {}\n", skipped.case, skipped.reason));
        }
    }
    if let Some(why) = &report.interrupted {
        text.push_str(&format!("\ninterrupted ({why})\n"));
    }
    text.push_str(&format!(
        "\nremoved: {} object(s), {} upload(s) and {} version(s) of this run; {} object(s), {} upload(s) and {} version(s) of earlier runs\n",
        report.cleaned_up.objects,
        report.cleaned_up.uploads,
        report.cleaned_up.versions,
        report.leftovers_removed.objects,
        report.leftovers_removed.uploads,
        report.leftovers_removed.versions
    ));
    text
}
