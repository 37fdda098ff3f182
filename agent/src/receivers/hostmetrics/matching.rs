//! Name filters shaped like the Collector's hostmetrics `include` / `exclude` blocks:
//! `{ devices: [...], match_type: strict | regexp }` for disks and filesystems,
//! `{ interfaces: [...] }` for network, `{ fs_types: [...] }` and `{ mount_points: [...] }`
//! for filesystems. `strict` compares whole names; `regexp` searches the name (unanchored,
//! as the Collector's filterset does), so write `^loop\d+$` for a whole-name match.

pub use sentinel_pipeline::config::matching::{MatchType, NameSet, PatternError};
use sentinel_pipeline::config::ValidationError;
use serde::{Deserialize, Serialize};

/// `include` / `exclude` of the `disk` scraper, and `include_devices` / `exclude_devices`
/// of the `filesystem` scraper.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceMatch {
    /// Device names as the kernel writes them: `sda`, `nvme0n1p1` (disk), `/dev/sda1`
    /// (filesystem).
    pub devices: Vec<String>,
    /// `strict` (default) or `regexp`.
    pub match_type: MatchType,
}

/// `include` / `exclude` of the `network` scraper.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InterfaceMatch {
    /// Interface names: `eth0`, `lo`, `veth.*` (with `regexp`).
    pub interfaces: Vec<String>,
    /// `strict` (default) or `regexp`.
    pub match_type: MatchType,
}

/// `include_fs_types` / `exclude_fs_types` of the `filesystem` scraper.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FsTypeMatch {
    /// Filesystem types as in `/proc/mounts`: `ext4`, `xfs`, `nfs4`, `fuse.sshfs`.
    pub fs_types: Vec<String>,
    /// `strict` (default) or `regexp`.
    pub match_type: MatchType,
}

/// `include_mount_points` / `exclude_mount_points` of the `filesystem` scraper.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MountPointMatch {
    /// Mount points as the host sees them (without `root_path`): `/`, `/var/lib/kubelet/.*`.
    pub mount_points: Vec<String>,
    /// `strict` (default) or `regexp`.
    pub match_type: MatchType,
}

/// A bad pattern in an include/exclude pair, naming the option that holds it.
#[derive(Debug, thiserror::Error)]
#[error("{option}: {pattern}")]
pub struct FilterError {
    /// The option, e.g. `scrapers.disk.include`.
    pub option: String,
    pub pattern: PatternError,
}

/// Reported where the option is written in the config.
impl From<FilterError> for ValidationError {
    fn from(err: FilterError) -> ValidationError {
        ValidationError::at(err.option, err.pattern.to_string())
    }
}

/// An include list (everything passes when it is empty) and an exclude list.
#[derive(Debug, Default)]
pub struct IncludeExclude {
    include: NameSet,
    exclude: NameSet,
}

impl IncludeExclude {
    /// `what` names the option pair in errors, e.g. `scrapers.disk`.
    pub fn compile(
        what: &str,
        include: (&[String], MatchType),
        exclude: (&[String], MatchType),
    ) -> Result<IncludeExclude, FilterError> {
        let compile = |side: &str, (names, match_type): (&[String], MatchType)| {
            NameSet::compile(names, match_type).map_err(|pattern| FilterError {
                option: format!("{what}.{side}"),
                pattern,
            })
        };
        Ok(IncludeExclude {
            include: compile("include", include)?,
            exclude: compile("exclude", exclude)?,
        })
    }

    pub fn wants(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.matches(name)) && !self.exclude.matches(name)
    }
}

impl DeviceMatch {
    pub fn names(&self) -> (&[String], MatchType) {
        (&self.devices, self.match_type)
    }
}

impl InterfaceMatch {
    pub fn names(&self) -> (&[String], MatchType) {
        (&self.interfaces, self.match_type)
    }
}

impl FsTypeMatch {
    pub fn names(&self) -> (&[String], MatchType) {
        (&self.fs_types, self.match_type)
    }
}

impl MountPointMatch {
    pub fn names(&self) -> (&[String], MatchType) {
        (&self.mount_points, self.match_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn strict_compares_whole_names_and_regexp_searches() {
        let strict = list(&["sda", "loop"]);
        let filter =
            IncludeExclude::compile("t", (&[], MatchType::Strict), (&strict, MatchType::Strict))
                .unwrap();
        assert!(filter.wants("sdb"));
        assert!(!filter.wants("sda"));
        // Strict is whole-name: `loop` does not exclude `loop0`.
        assert!(filter.wants("loop0"));

        let include = list(&["^sd", "nvme"]);
        let exclude = list(&[r"p\d+$"]);
        let filter = IncludeExclude::compile(
            "t",
            (&include, MatchType::Regexp),
            (&exclude, MatchType::Regexp),
        )
        .unwrap();
        assert!(filter.wants("sda"));
        assert!(filter.wants("nvme0n1"));
        assert!(
            !filter.wants("nvme0n1p1"),
            "excluded by the partition pattern"
        );
        assert!(!filter.wants("loop0"), "not included");
    }

    #[test]
    fn a_bad_regex_names_the_option() {
        let bad = list(&["("]);
        let err = IncludeExclude::compile(
            "scrapers.disk",
            (&bad, MatchType::Regexp),
            (&[], MatchType::Strict),
        )
        .unwrap_err();
        assert_eq!(err.option, "scrapers.disk.include");
        let err = err.to_string();
        assert!(
            err.starts_with("scrapers.disk.include: invalid regex \"(\": "),
            "{err}"
        );
    }
}
