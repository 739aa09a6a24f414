//! Reads variables from an environment map through their table entries, each validated by its kind, every read recorded.

use super::variables::{Value, Variable, alternatives};
use super::{ConfigError, MAX_PREFIX_BYTES, problem};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

/// An environment (a map, so tests pass their own) read only through
/// [`Variable`]s: every value is checked as its entry says, and the names
/// read are remembered so a test can hold the table to the code.
pub(crate) struct Env<'a> {
    map: &'a HashMap<String, String>,
    read: RefCell<BTreeSet<&'static str>>,
}

impl<'a> Env<'a> {
    /// Reads from `map`.
    pub fn new(map: &'a HashMap<String, String>) -> Env<'a> {
        Env {
            map,
            read: RefCell::new(BTreeSet::new()),
        }
    }

    /// The names read so far.
    #[cfg(test)]
    pub fn names_read(&self) -> BTreeSet<&'static str> {
        self.read.borrow().clone()
    }

    /// The value of `variable`, trimmed (a prefix is taken as it is), `None`
    /// when unset or empty.
    fn raw(&self, variable: &Variable) -> Option<&'a str> {
        self.read.borrow_mut().insert(variable.name);
        let value = self.map.get(variable.name)?;
        let value = match variable.value {
            Value::Prefix => value.as_str(),
            _ => value.trim(),
        };
        (!value.is_empty()).then_some(value)
    }

    /// A whole number within the entry's range.
    pub fn number(&self, variable: &Variable) -> Result<Option<u64>, ConfigError> {
        let Some(text) = self.raw(variable) else {
            return Ok(None);
        };
        check(&variable.value, text)
            .map(|()| text.parse().ok())
            .map_err(|expected| problem(variable.name, expected))
    }

    /// One of the entry's words (any case), as the entry spells it.
    pub fn word(&self, variable: &Variable) -> Result<Option<&'static str>, ConfigError> {
        let Some(text) = self.raw(variable) else {
            return Ok(None);
        };
        check(&variable.value, text).map_err(|expected| problem(variable.name, expected))?;
        Ok(match variable.value {
            Value::OneOf(words) => words.iter().copied().find(|w| w.eq_ignore_ascii_case(text)),
            _ => None,
        })
    }

    /// `true` or `false`, any case.
    pub fn flag(&self, variable: &Variable) -> Result<Option<bool>, ConfigError> {
        let Some(text) = self.raw(variable) else {
            return Ok(None);
        };
        check(&variable.value, text).map_err(|expected| problem(variable.name, expected))?;
        Ok(Some(text.eq_ignore_ascii_case("true")))
    }

    /// Text of the entry's kind (a bucket, a region, …).
    pub fn text(&self, variable: &Variable) -> Result<Option<String>, ConfigError> {
        let Some(text) = self.raw(variable) else {
            return Ok(None);
        };
        check(&variable.value, text).map_err(|expected| problem(variable.name, expected))?;
        Ok(Some(text.to_owned()))
    }

    /// The comma-separated entries (trimmed, empty ones dropped), each of
    /// the list's kind.
    pub fn list(&self, variable: &Variable) -> Result<Vec<String>, ConfigError> {
        let entries: Vec<String> = self
            .raw(variable)
            .map(|text| {
                text.split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Value::List(inner) = variable.value
            && let Some(bad) = entries.iter().find(|entry| check(inner, entry).is_err())
        {
            return Err(problem(
                variable.name,
                format!("must list {}, got {bad:?}", plural(inner)),
            ));
        }
        Ok(entries)
    }
}

/// What a list of `value`s holds, for its error message.
fn plural(value: &Value) -> String {
    match value {
        Value::Bucket => "s3 bucket names".to_owned(),
        Value::Prefix => {
            format!("key prefixes (not starting with /, at most {MAX_PREFIX_BYTES} bytes)")
        }
        Value::Transform => format!("transforms ({})", crate::transform::names().join(", ")),
        other => other.describe(),
    }
}

/// True when `name` follows S3's bucket naming rules.
pub fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

/// Checks `text` against `value`; the error says what was expected.
pub(crate) fn check(value: &Value, text: &str) -> Result<(), String> {
    let ok = match value {
        Value::Number { min, max } => text
            .parse::<u64>()
            .is_ok_and(|n| (*min..=*max).contains(&n)),
        Value::OneOf(words) => words.iter().any(|w| w.eq_ignore_ascii_case(text)),
        Value::Flag => text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false"),
        Value::SdkName(values, _) => values().contains(&text),
        Value::Bucket => valid_bucket_name(text),
        Value::Prefix => !text.starts_with('/') && text.len() <= MAX_PREFIX_BYTES,
        Value::Transform => {
            let names = crate::transform::names();
            text.split(',').all(|name| names.contains(&name.trim()))
        }
        Value::Region => {
            text.len() <= 32
                && text
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }
        Value::AccountId => text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()),
        Value::Text | Value::External(_) => true,
        Value::List(inner) => text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .all(|entry| check(inner, entry).is_ok()),
    };
    if ok {
        return Ok(());
    }
    Err(match value {
        Value::Number { min, max } => {
            format!("must be a whole number from {min} to {max}, got {text:?}")
        }
        Value::OneOf(words) => format!("must be {}, got {text:?}", alternatives(words)),
        Value::Flag => format!("must be true or false, got {text:?}"),
        Value::SdkName(values, _) => {
            format!("must be one of {}, got {text:?}", values().join(", "))
        }
        Value::Bucket => {
            format!("must be a valid s3 bucket name (3-63 of a-z 0-9 . -), got {text:?}")
        }
        Value::Prefix => {
            format!("must not start with / and must be at most {MAX_PREFIX_BYTES} bytes")
        }
        Value::Transform => format!(
            "must be one of {} (or several, comma-separated, applied in order), got {text:?}",
            crate::transform::names().join(", ")
        ),
        Value::Region => format!("must be an aws region such as eu-west-1, got {text:?}"),
        Value::AccountId => format!("must be a 12-digit aws account id, got {text:?}"),
        other => format!("must be {}, got {text:?}", other.describe()),
    })
}
