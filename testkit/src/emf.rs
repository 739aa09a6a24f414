//! A validator for CloudWatch Embedded Metric Format records: the specification's structure and limits, strictly.
//!
//! CloudWatch Logs drops a record it cannot extract without telling the
//! writer (it counts it in `AWS/Logs` `EMFValidationErrors`), so the tests
//! check every record the function writes against the specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>)
//! instead of trusting its shape.

use serde_json::{Map, Value};

/// Largest log event CloudWatch Logs accepts, and so the largest record.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// Most metric definitions one directive may hold.
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;

/// Most dimension keys one dimension set may hold.
pub const MAX_DIMENSIONS_PER_SET: usize = 30;

/// Most values one metric may carry in one record.
pub const MAX_VALUES_PER_METRIC: usize = 100;

/// Longest namespace.
pub const MAX_NAMESPACE_CHARS: usize = 255;

/// Longest metric name.
pub const MAX_METRIC_NAME_CHARS: usize = 1024;

/// Longest dimension name.
pub const MAX_DIMENSION_NAME_CHARS: usize = 250;

/// Longest dimension value.
pub const MAX_DIMENSION_VALUE_CHARS: usize = 1024;

/// The units CloudWatch accepts.
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A metric one record publishes: its name, unit, namespace, the dimension
/// sets it is published under (each as `name=value` pairs) and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The directive's namespace.
    pub namespace: String,
    /// The metric's name.
    pub name: String,
    /// The metric's unit (`None` when the definition names none).
    pub unit: String,
    /// Each dimension set, resolved to `(name, value)` pairs.
    pub dimension_sets: Vec<Vec<(String, String)>>,
    /// The values (one, or an array's).
    pub values: Vec<f64>,
}

/// Validates one stdout line as an EMF record; returns what it publishes,
/// or every rule it breaks.
pub fn validate_line(line: &str) -> Result<Vec<Published>, Vec<String>> {
    let mut problems = Vec::new();
    if line.len() > MAX_RECORD_BYTES {
        problems.push(format!(
            "record is {} bytes, over {MAX_RECORD_BYTES}",
            line.len()
        ));
    }
    let value: Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(error) => return Err(vec![format!("record is not one JSON value: {error}")]),
    };
    match validate(&value) {
        Ok(published) if problems.is_empty() => Ok(published),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// Validates a parsed record; returns what it publishes, or every rule it
/// breaks.
pub fn validate(record: &Value) -> Result<Vec<Published>, Vec<String>> {
    let mut problems = Vec::new();
    let mut published = Vec::new();
    let Some(root) = record.as_object() else {
        return Err(vec!["the root is not an object".into()]);
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return Err(vec!["no `_aws` metadata object".into()]);
    };
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        other => problems.push(format!(
            "`_aws.Timestamp` must be epoch milliseconds, found {other:?}"
        )),
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        problems.push("`_aws.CloudWatchMetrics` is not an array".into());
        return Err(problems);
    };
    for (index, directive) in directives.iter().enumerate() {
        let at = format!("directive {index}");
        match directive.as_object() {
            Some(directive) => {
                validate_directive(root, directive, &at, &mut problems, &mut published);
            }
            None => problems.push(format!("{at}: not an object")),
        }
    }
    if problems.is_empty() {
        Ok(published)
    } else {
        Err(problems)
    }
}

fn validate_directive(
    root: &Map<String, Value>,
    directive: &Map<String, Value>,
    at: &str,
    problems: &mut Vec<String>,
    published: &mut Vec<Published>,
) {
    let namespace = match directive.get("Namespace").and_then(Value::as_str) {
        Some(ns)
            if !ns.trim().is_empty()
                && ns.chars().count() <= MAX_NAMESPACE_CHARS
                && !ns.starts_with(':') =>
        {
            ns.to_owned()
        }
        other => {
            problems.push(format!("{at}: invalid Namespace {other:?}"));
            String::new()
        }
    };
    let mut dimension_sets = Vec::new();
    match directive.get("Dimensions").and_then(Value::as_array) {
        None => problems.push(format!("{at}: Dimensions is not an array")),
        Some(sets) => {
            for (set_index, set) in sets.iter().enumerate() {
                let Some(keys) = set.as_array() else {
                    problems.push(format!("{at}: dimension set {set_index} is not an array"));
                    continue;
                };
                if keys.len() > MAX_DIMENSIONS_PER_SET {
                    problems.push(format!(
                        "{at}: dimension set {set_index} has {} keys, over {MAX_DIMENSIONS_PER_SET}",
                        keys.len()
                    ));
                }
                let mut resolved = Vec::new();
                for key in keys {
                    let Some(key) = key.as_str() else {
                        problems.push(format!("{at}: dimension key {key} is not a string"));
                        continue;
                    };
                    if key.is_empty() || key.chars().count() > MAX_DIMENSION_NAME_CHARS {
                        problems.push(format!("{at}: dimension name {key:?} is out of bounds"));
                    }
                    match root.get(key).and_then(Value::as_str) {
                        Some(value)
                            if !value.is_empty()
                                && value.chars().count() <= MAX_DIMENSION_VALUE_CHARS =>
                        {
                            resolved.push((key.to_owned(), value.to_owned()));
                        }
                        other => problems.push(format!(
                            "{at}: dimension {key:?} needs a non-empty string member on the root, found {other:?}"
                        )),
                    }
                }
                dimension_sets.push(resolved);
            }
        }
    }
    let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
        problems.push(format!("{at}: Metrics is not an array"));
        return;
    };
    if metrics.len() > MAX_METRICS_PER_DIRECTIVE {
        problems.push(format!(
            "{at}: {} metrics, over {MAX_METRICS_PER_DIRECTIVE}",
            metrics.len()
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    for definition in metrics {
        let Some(definition) = definition.as_object() else {
            problems.push(format!("{at}: a metric definition is not an object"));
            continue;
        };
        let Some(name) = definition.get("Name").and_then(Value::as_str) else {
            problems.push(format!("{at}: a metric definition has no Name"));
            continue;
        };
        if name.is_empty() || name.chars().count() > MAX_METRIC_NAME_CHARS {
            problems.push(format!("{at}: metric name {name:?} is out of bounds"));
        }
        if !names.insert(name) {
            problems.push(format!("{at}: metric {name:?} is declared twice"));
        }
        let unit = match definition.get("Unit") {
            None => "None".to_owned(),
            Some(Value::String(unit)) if UNITS.contains(&unit.as_str()) => unit.clone(),
            Some(other) => {
                problems.push(format!("{at}: metric {name:?} has an unknown Unit {other}"));
                String::new()
            }
        };
        match definition.get("StorageResolution") {
            None => {}
            Some(Value::Number(n)) if n.as_u64() == Some(1) || n.as_u64() == Some(60) => {}
            Some(other) => problems.push(format!(
                "{at}: metric {name:?} has StorageResolution {other}, not 1 or 60"
            )),
        }
        let values = match root.get(name) {
            Some(Value::Number(n)) => n.as_f64().into_iter().collect::<Vec<_>>(),
            Some(Value::Array(values)) => {
                if values.len() > MAX_VALUES_PER_METRIC {
                    problems.push(format!(
                        "{at}: metric {name:?} has {} values, over {MAX_VALUES_PER_METRIC}",
                        values.len()
                    ));
                }
                if values.is_empty() {
                    problems.push(format!("{at}: metric {name:?} has an empty array"));
                }
                let numbers: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
                if numbers.len() != values.len() {
                    problems.push(format!(
                        "{at}: metric {name:?} has a value that is not a number"
                    ));
                }
                numbers
            }
            other => {
                problems.push(format!(
                    "{at}: metric {name:?} needs a number or an array of numbers on the root, found {other:?}"
                ));
                Vec::new()
            }
        };
        published.push(Published {
            namespace: namespace.clone(),
            name: name.to_owned(),
            unit,
            dimension_sets: dimension_sets.clone(),
            values,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(metrics: Value, members: Value) -> Value {
        let mut record = json!({
            "_aws": {
                "Timestamp": 1_700_000_000_000u64,
                "CloudWatchMetrics": [{
                    "Namespace": "Test",
                    "Dimensions": [["FunctionName"]],
                    "Metrics": metrics,
                }],
            },
            "FunctionName": "f",
        });
        for (name, value) in members.as_object().into_iter().flatten() {
            record[name] = value.clone();
        }
        record
    }

    #[test]
    fn accepts_a_valid_record_and_reads_its_values() {
        let published = validate(&record(
            json!([{"Name": "Bytes", "Unit": "Bytes"}, {"Name": "Ms", "Unit": "Milliseconds"}]),
            json!({"Bytes": 5, "Ms": [1, 2.5]}),
        ))
        .expect("valid");
        assert_eq!(published[0].values, vec![5.0]);
        assert_eq!(published[1].values, vec![1.0, 2.5]);
        assert_eq!(
            published[0].dimension_sets,
            vec![vec![("FunctionName".into(), "f".into())]]
        );
    }

    #[test]
    fn refuses_what_cloudwatch_would_drop() {
        let too_many_values: Vec<u64> = (0..101).collect();
        let cases = [
            record(json!([{"Name": "A"}]), json!({})),
            record(json!([{"Name": "A", "Unit": "Furlongs"}]), json!({"A": 1})),
            record(json!([{"Name": "A"}]), json!({"A": too_many_values})),
            record(json!([{"Name": "A"}]), json!({"A": "1"})),
            record(json!([{"Name": "A"}, {"Name": "A"}]), json!({"A": 1})),
            record(
                json!(
                    (0..101)
                        .map(|i| json!({"Name": format!("M{i}")}))
                        .collect::<Vec<_>>()
                ),
                json!(
                    (0..101)
                        .map(|i| (format!("M{i}"), json!(1)))
                        .collect::<Map<_, _>>()
                ),
            ),
        ];
        for case in cases {
            assert!(validate(&case).is_err(), "accepted {case}");
        }
        let mut no_dimension_member = record(json!([{"Name": "A"}]), json!({"A": 1}));
        no_dimension_member
            .as_object_mut()
            .map(|root| root.remove("FunctionName"));
        assert!(validate(&no_dimension_member).is_err());
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_RECORD_BYTES));
        assert!(validate_line(&huge).is_err());
    }
}
