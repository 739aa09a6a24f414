//! The operator's allow-lists: which source buckets are read, which Batch Operations overrides a job may ask for.

use super::env::Env;
use super::variables as var;
use super::{ConfigError, valid_bucket_name};
use std::collections::HashMap;

/// Suffixes of S3 access point aliases (`NAME-…-s3alias`) and Object Lambda
/// / Outposts aliases (`…--op-s3`): they look like bucket names but name an
/// access point, so they are read only when `SOURCE_BUCKETS` lists them.
pub const ALIAS_SUFFIXES: [&str; 2] = ["-s3alias", "--op-s3"];

/// `SOURCE_BUCKETS` and the `ALLOWED_*` lists, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowLists {
    /// `SOURCE_BUCKETS`: when set, the only buckets (or aliases, or ARNs,
    /// exactly as events name them) the function reads from.
    pub source_buckets: Option<Vec<String>>,
    /// `ALLOWED_DST_BUCKETS`: buckets a Batch Operations job may name in
    /// `userArguments.dstBucket` (`DST_BUCKET` always may).
    pub dst_buckets: Vec<String>,
    /// `ALLOWED_DST_PREFIXES`: prefixes a job may name in
    /// `userArguments.dstPrefix` (`DST_PREFIX` always may).
    pub dst_prefixes: Vec<String>,
    /// `ALLOWED_TRANSFORMS`: transforms a job may name in
    /// `userArguments.transform` (`TRANSFORM` always may).
    pub transforms: Vec<String>,
    /// `ALLOWED_STORAGE_CLASSES`: storage classes a job may name in
    /// `userArguments.storageClass` (`STORAGE_CLASS` always may).
    pub storage_classes: Vec<String>,
}

impl AllowLists {
    /// Reads and validates the lists in `env`.
    pub fn from_map(env: &HashMap<String, String>) -> Result<AllowLists, ConfigError> {
        AllowLists::read(&Env::new(env))
    }

    pub(super) fn read(env: &Env) -> Result<AllowLists, ConfigError> {
        let source_buckets = env.list(&var::SOURCE_BUCKETS)?;
        Ok(AllowLists {
            source_buckets: (!source_buckets.is_empty()).then_some(source_buckets),
            dst_buckets: env.list(&var::ALLOWED_DST_BUCKETS)?,
            dst_prefixes: env.list(&var::ALLOWED_DST_PREFIXES)?,
            transforms: env.list(&var::ALLOWED_TRANSFORMS)?,
            storage_classes: env.list(&var::ALLOWED_STORAGE_CLASSES)?,
        })
    }

    /// Why the function must not read from `bucket`, if it must not: a
    /// bucket off `SOURCE_BUCKETS` when it is set; otherwise anything that is
    /// not a plain bucket name (an ARN, an access point alias).
    pub fn source_refusal(&self, bucket: &str) -> Option<String> {
        if let Some(allowed) = &self.source_buckets {
            return (!allowed.iter().any(|b| b == bucket)).then(|| {
                format!(
                    "source bucket {bucket:?} is not in SOURCE_BUCKETS ({}): nothing was read",
                    allowed.join(", ")
                )
            });
        }
        let alias = ALIAS_SUFFIXES.iter().any(|suffix| bucket.ends_with(suffix));
        (alias || !valid_bucket_name(bucket)).then(|| {
            format!(
                "source bucket {bucket:?} is not a bucket name (an arn or access point alias is read only when SOURCE_BUCKETS lists it): nothing was read"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;

    #[test]
    fn lists_are_comma_separated_and_validated() {
        let lists = AllowLists::from_map(&env(&[
            ("SOURCE_BUCKETS", " a-bucket , my-ap-abc123-s3alias,"),
            ("ALLOWED_DST_BUCKETS", "archive-bucket"),
            ("ALLOWED_TRANSFORMS", "gzip"),
        ]))
        .unwrap();
        assert_eq!(
            lists.source_buckets.as_deref(),
            Some(&["a-bucket".to_owned(), "my-ap-abc123-s3alias".to_owned()][..])
        );
        assert_eq!(lists.dst_buckets, ["archive-bucket"]);
        let bad = AllowLists::from_map(&env(&[("ALLOWED_DST_BUCKETS", "Not_A_Bucket")]));
        assert_eq!(bad.unwrap_err().variable, "ALLOWED_DST_BUCKETS");
        let bad = AllowLists::from_map(&env(&[("ALLOWED_TRANSFORMS", "rot13")]));
        assert_eq!(bad.unwrap_err().variable, "ALLOWED_TRANSFORMS");
        let bad = AllowLists::from_map(&env(&[("ALLOWED_STORAGE_CLASSES", "CHEAP")]));
        assert_eq!(bad.unwrap_err().variable, "ALLOWED_STORAGE_CLASSES");
    }

    #[test]
    fn sources_off_the_list_and_aliases_are_refused() {
        let open = AllowLists::default();
        assert_eq!(open.source_refusal("photos"), None);
        assert!(open.source_refusal("ap-abc123-s3alias").is_some());
        assert!(open.source_refusal("arn:aws:s3:::photos").is_some());
        let listed = AllowLists {
            source_buckets: Some(vec!["photos".into(), "ap-abc123-s3alias".into()]),
            ..AllowLists::default()
        };
        assert_eq!(listed.source_refusal("ap-abc123-s3alias"), None);
        let refused = listed.source_refusal("other").unwrap();
        assert!(refused.contains("not in SOURCE_BUCKETS"), "{refused}");
    }
}
