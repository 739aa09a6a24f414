//! Lambda-friendly logging: one line per event, JSON or text, level from the environment.

use std::fmt::Write as _;
use std::sync::RwLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Level used when neither `AWS_LAMBDA_LOG_LEVEL` nor `RUST_LOG` is set: one
/// line per invocation outcome, no per-request chatter from the SDK.
pub const DEFAULT_LEVEL: &str = "info";

/// The request id of the invocation being served, stamped on every line.
static REQUEST_ID: RwLock<Option<String>> = RwLock::new(None);

/// Sets (or clears) the request id stamped on log lines.
pub fn set_request_id(request_id: Option<&str>) {
    if let Ok(mut slot) = REQUEST_ID.write() {
        *slot = request_id.map(str::to_owned);
    }
}

fn request_id() -> Option<String> {
    REQUEST_ID.read().ok().and_then(|slot| slot.clone())
}

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `{"timestamp","level","message","requestId",…}`, for `AWS_LAMBDA_LOG_FORMAT=JSON`.
    Json,
    /// `LEVEL [requestId] message key=value`.
    Text,
}

/// Installs the global subscriber (stderr) from `AWS_LAMBDA_LOG_FORMAT`,
/// `AWS_LAMBDA_LOG_LEVEL` then `RUST_LOG`, and a panic hook that logs one line.
/// Does nothing if a subscriber is already installed.
pub fn init() {
    use crate::config::variables::{AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL};
    let format = match std::env::var(AWS_LAMBDA_LOG_FORMAT.name) {
        Ok(value) if value.eq_ignore_ascii_case("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let level = std::env::var(AWS_LAMBDA_LOG_LEVEL.name)
        .ok()
        .map(|level| lambda_level(&level).to_owned())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| DEFAULT_LEVEL.to_owned());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .event_format(LambdaFormat { format });
    let installed = match level.trim().parse::<LevelFilter>() {
        // A bare level (Lambda's setting, or the default) needs no directive
        // parser: `EnvFilter` compiles its parsing regexes first, a tenth of
        // a millisecond of every cold start.
        Ok(max) => builder.with_max_level(max).try_init(),
        Err(_) => {
            let filter =
                EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LEVEL));
            builder.with_env_filter(filter).try_init()
        }
    }
    .is_ok();
    if installed {
        std::panic::set_hook(Box::new(|info| {
            tracing::error!("panic: {}", info.to_string().replace('\n', " "));
        }));
    }
}

/// Maps Lambda's level names (`FATAL` included) onto tracing's.
fn lambda_level(level: &str) -> &'static str {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    }
}

/// The event formatter behind [`LogFormat`].
pub struct LambdaFormat {
    format: LogFormat,
}

#[derive(Default)]
struct FieldCollector {
    message: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Visit for FieldCollector {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.insert(field.name().to_owned(), value.into());
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .insert(field.name().to_owned(), format!("{value:?}").into());
        }
    }
}

impl<S, N> FormatEvent<S, N> for LambdaFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut collected = FieldCollector::default();
        event.record(&mut collected);
        let level = event.metadata().level().as_str();
        // One event, one line: a multi-line message would split in CloudWatch.
        let message = collected.message.replace('\n', " ");
        match self.format {
            LogFormat::Json => {
                let timestamp = timestamp();
                let mut line = serde_json::Map::new();
                line.insert("timestamp".into(), timestamp.into());
                line.insert("level".into(), level.into());
                line.insert("message".into(), message.into());
                if let Some(id) = request_id() {
                    line.insert("requestId".into(), id.into());
                }
                line.insert("target".into(), event.metadata().target().into());
                for (key, value) in collected.fields {
                    line.entry(key).or_insert(value);
                }
                let text = serde_json::to_string(&line).map_err(|_| std::fmt::Error)?;
                writeln!(writer, "{text}")
            }
            LogFormat::Text => {
                let mut text = format!("{level:5}");
                if let Some(id) = request_id() {
                    let _ = write!(text, " {id}");
                }
                let _ = write!(text, " {message}");
                for (key, value) in collected.fields {
                    let _ = write!(text, " {key}={value}");
                }
                writeln!(writer, "{text}")
            }
        }
    }
}

/// Now, in RFC 3339 UTC: the `timestamp` of a JSON line, which Lambda's
/// log-level filtering reads (metric records carry it too).
pub fn timestamp() -> String {
    let mut timestamp = String::new();
    // Writing to a String cannot fail.
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
    timestamp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lambda_levels() {
        assert_eq!(lambda_level("FATAL"), "error");
        assert_eq!(lambda_level("debug"), "debug");
        assert_eq!(lambda_level("bogus"), "info");
    }
}
