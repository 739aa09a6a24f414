//! The one table of built-in transforms: `TRANSFORM` validation, [`by_name`], the CLI help and `docs/transforms.md`.

use super::{
    Chain, Gunzip, Gzip, GzipMembers, Identity, Ndjson, Transform, Unzstd, YamlJson, Zstd,
};
use std::sync::OnceLock;

/// Transforms a binary of your own adds to the built-ins ([`register`]).
static REGISTERED: OnceLock<Vec<Builtin>> = OnceLock::new();

/// Adds your own transforms to the registry, so `TRANSFORM` accepts their
/// names (alone or in chains) and `--help` lists them. Call it once, first
/// thing in `main`, before the configuration is read (see
/// `examples/uniform_requests.rs`); a second call returns its argument.
pub fn register(transforms: Vec<Builtin>) -> Result<(), Vec<Builtin>> {
    REGISTERED.set(transforms)
}

/// The built-ins, then the registered transforms.
pub fn all() -> impl Iterator<Item = &'static Builtin> {
    BUILTINS
        .iter()
        .chain(REGISTERED.get().into_iter().flatten())
}

/// Settings the built-ins share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformOptions {
    /// `gzip`'s level, 1–9.
    pub gzip_level: u32,
    /// `gzip`'s output: independent members (parallel) or one member.
    pub gzip_members: GzipMembers,
    /// `zstd`'s level, 1–19.
    pub zstd_level: i32,
    /// Threads a compressor may use (one per core the function gets).
    pub workers: usize,
}

impl Default for TransformOptions {
    fn default() -> Self {
        TransformOptions {
            gzip_level: super::GZIP_LEVEL,
            gzip_members: GzipMembers::Parallel,
            zstd_level: super::ZSTD_LEVEL,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// One built-in transform.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Its name for `TRANSFORM`.
    pub name: &'static str,
    /// What it does, in a line (CLI help, README).
    pub summary: &'static str,
    /// Makes one, for one copy.
    pub build: fn(&TransformOptions) -> Box<dyn Transform>,
}

/// Every built-in transform.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "identity",
        summary: "passes bytes through without copying them (the default: the drop-in copy)",
        build: |_| Box::new(Identity),
    },
    Builtin {
        name: "gzip",
        summary: "compresses into KEY.gz (application/gzip), GZIP_LEVEL, on COMPRESSION_WORKERS threads as concurrent gzip members",
        build: |options| {
            Box::new(Gzip::new(
                options.gzip_level,
                options.gzip_members,
                options.workers,
            ))
        },
    },
    Builtin {
        name: "gunzip",
        summary: "decompresses gzip (every member of a multi-member file); drops .gz and names the type the key's extension says",
        build: |_| Box::new(Gunzip::new()),
    },
    Builtin {
        name: "zstd",
        summary: "compresses into KEY.zst (application/zstd), ZSTD_LEVEL, on COMPRESSION_WORKERS threads",
        build: |options| Box::new(Zstd::new(options.zstd_level, options.workers)),
    },
    Builtin {
        name: "unzstd",
        summary: "decompresses zstd (every frame); drops .zst and names the type the key's extension says",
        build: |_| Box::new(Unzstd::new()),
    },
    Builtin {
        name: "ndjson",
        summary: "a JSON array, or concatenated JSON values, to one compact value per line (numbers and key order exactly as written; an element up to 8 MiB)",
        build: |_| Box::new(Ndjson::new()),
    },
    Builtin {
        name: "yaml-json",
        summary: "a (multi-document) YAML stream to one JSON document per line in KEY.ndjson (.yaml / .yml dropped), one document (up to 4 MiB) at a time",
        build: |_| Box::new(YamlJson::new()),
    },
];

/// The names of every transform, in table order.
pub fn names() -> Vec<&'static str> {
    all().map(|builtin| builtin.name).collect()
}

/// Builds the transform `spec` names with the default options: one name,
/// or names joined by commas for a [`Chain`]; `None` when a name is unknown.
pub fn by_name(spec: &str) -> Option<Box<dyn Transform>> {
    by_name_with(spec, &TransformOptions::default())
}

/// [`by_name`] with `options`.
pub fn by_name_with(spec: &str, options: &TransformOptions) -> Option<Box<dyn Transform>> {
    let mut stages = Vec::new();
    for name in spec.split(',').map(str::trim) {
        let builtin = all().find(|builtin| builtin.name == name)?;
        stages.push((builtin.build)(options));
    }
    match stages.len() {
        0 => None,
        1 => stages.pop(),
        _ => Some(Box::new(Chain::new(stages))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_builds_under_its_own_name() {
        for builtin in BUILTINS {
            let transform = by_name(builtin.name).expect("builds");
            assert_eq!(transform.name(), builtin.name);
        }
        assert!(by_name("rot13").is_none());
        assert!(by_name("gzip,rot13").is_none());
        assert!(by_name("").is_none());
    }

    #[test]
    fn a_chain_composes_keys() {
        let chain = by_name("gunzip, zstd").expect("a chain");
        assert_eq!(chain.destination_key("logs/a.json.gz"), "logs/a.json.zst");
        assert_eq!(
            chain.content_type_for("logs/a.json.zst").as_deref(),
            Some("application/zstd")
        );
    }
}
