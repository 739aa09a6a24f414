//! `bootstrap bench s3://BUCKET/PREFIX/`: the bench from the command line (table, `--json`, `--svg`), and `--merge` of several runs' JSON into one chart.

use super::{cancel_on_signal, usage_error};
use crate::bench::{BenchOptions, BenchReport, render};
use crate::config::Config;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// What to print and write.
#[derive(Debug, Default)]
struct Output {
    json: bool,
    svg: Option<String>,
}

fn number<T: std::str::FromStr>(option: &str, value: Option<&String>) -> Result<T, String> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{option} needs a number"))
}

/// Parses the arguments after `bench`.
fn parse(args: &[String]) -> Result<(BenchOptions, Vec<String>, Output), String> {
    let mut options = BenchOptions::default();
    let mut positional = Vec::new();
    let mut output = Output::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--size-mib" => options.size_mib = Some(number(arg, rest.next())?),
            "--rounds" => options.rounds = Some(number(arg, rest.next())?),
            "--seconds" => options.seconds = Some(number(arg, rest.next())?),
            "--price-put-per-1000" => options.price_put_per_1000 = Some(number(arg, rest.next())?),
            "--price-get-per-1000" => options.price_get_per_1000 = Some(number(arg, rest.next())?),
            "--price-gb-second" => options.price_gb_second = Some(number(arg, rest.next())?),
            "--only" => {
                let list = rest.next().ok_or("--only needs OPERATION[,OPERATION...]")?;
                options.operations = Some(list.split(',').map(str::to_owned).collect());
            }
            "--source" => {
                options.source = Some(rest.next().ok_or("--source needs s3://BUCKET/KEY")?.clone())
            }
            "--label" => options.label = Some(rest.next().ok_or("--label needs a text")?.clone()),
            "--svg" => output.svg = Some(rest.next().ok_or("--svg needs a FILE")?.clone()),
            "--json" => output.json = true,
            "--merge" => positional.push(arg.clone()),
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => positional.push(other.to_owned()),
        }
    }
    Ok((options, positional, output))
}

/// `bootstrap bench …`.
pub(super) async fn bench(args: &[String]) -> ExitCode {
    let (options, positional, output) = match parse(args) {
        Ok(parsed) => parsed,
        Err(message) => return usage_error(&message),
    };
    if positional.first().map(String::as_str) == Some("--merge") {
        return merge(&positional[1..], &output);
    }
    let [target] = positional.as_slice() else {
        return usage_error("bench takes one s3://BUCKET/PREFIX/ (or --merge RUN.json...)");
    };
    // The target first: its errors name it, not the DST_BUCKET it fills in.
    let bucket = match crate::bench::BenchTarget::parse(target) {
        Ok(parsed) => parsed.bucket,
        Err(error) => return usage_error(&format!("the bench target {error}")),
    };
    let mut env: std::collections::HashMap<String, String> = std::env::vars().collect();
    env.insert("DST_BUCKET".into(), bucket);
    let config = match Config::from_map(&env) {
        Ok(config) => config,
        Err(error) => return usage_error(&error.to_string()),
    };
    let request = match (BenchOptions {
        target: Some(target.clone()),
        ..options
    })
    .into_request(None, config.memory_mib)
    {
        Ok(request) => request,
        Err(error) => return usage_error(&error.to_string()),
    };
    let client = crate::s3::client_from_env().await;
    let cancel = CancellationToken::new();
    cancel_on_signal(&cancel);
    let budget = crate::bench::Budget::from_now(request.budget);
    let result = crate::bench::run(
        &client,
        &config.copy,
        config.memory_mib,
        &request,
        &cancel,
        budget,
    )
    .await;
    match result {
        Ok(report) => {
            let written = show(std::slice::from_ref(&report), &output);
            if report.interrupted.is_some() {
                eprintln!("bootstrap: bench interrupted; everything it wrote was removed");
                return ExitCode::FAILURE;
            }
            written
        }
        Err(error) => {
            eprintln!(
                "bootstrap: {}: {}",
                error.error_type().as_str(),
                crate::runtime::error_chain(&error)
            );
            ExitCode::FAILURE
        }
    }
}

/// Prints `reports` (a table each, or JSON) and writes the chart.
fn show(reports: &[BenchReport], output: &Output) -> ExitCode {
    if output.json {
        let json = match reports {
            [one] => serde_json::to_string_pretty(one),
            many => serde_json::to_string_pretty(many),
        };
        match json {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("bootstrap: failed to encode the report: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        for report in reports {
            println!("{}", render::table::render(report));
        }
    }
    if let Some(path) = &output.svg {
        if let Err(error) = std::fs::write(path, render::svg::render(reports)) {
            eprintln!("bootstrap: failed to write {path}: {error}");
            return ExitCode::FAILURE;
        }
        eprintln!("bootstrap: chart written to {path}");
    }
    ExitCode::SUCCESS
}

/// `--merge RUN.json...`: several runs (each a bench's `--json`, or a bench
/// event's response) in one table set and one chart.
fn merge(paths: &[String], output: &Output) -> ExitCode {
    if paths.is_empty() {
        return usage_error("--merge needs at least one RUN.json");
    }
    let mut reports = Vec::new();
    for path in paths {
        let report = std::fs::read(path)
            .map_err(|e| format!("failed to read {path}: {e}"))
            .and_then(|bytes| {
                // One report (`--json`, a bench event's response), or the
                // list a `--merge --json` printed.
                serde_json::from_slice::<BenchReport>(&bytes)
                    .map(|report| vec![report])
                    .or_else(|_| serde_json::from_slice::<Vec<BenchReport>>(&bytes))
                    .map_err(|e| format!("{path} is not a bench report: {e}"))
            });
        match report {
            Ok(report) => reports.extend(report),
            Err(message) => return usage_error(&message),
        }
    }
    show(&reports, output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_fill_the_same_fields_as_a_bench_event() {
        let (options, positional, output) = parse(&args(
            "s3://b/p/ --size-mib 64 --rounds 2 --seconds 30 --only get,put --json --svg c.svg --price-gb-second 0.00001",
        ))
        .unwrap();
        assert_eq!(positional, ["s3://b/p/"]);
        assert_eq!(options.size_mib, Some(64));
        assert_eq!(options.rounds, Some(2));
        assert_eq!(options.seconds, Some(30));
        assert_eq!(options.operations, Some(vec!["get".into(), "put".into()]));
        assert_eq!(options.price_gb_second, Some(0.00001));
        assert!(output.json);
        assert_eq!(output.svg.as_deref(), Some("c.svg"));
        assert!(parse(&args("s3://b/p/ --rounds x")).is_err());
        assert!(parse(&args("s3://b/p/ --fast")).is_err());
    }
}
