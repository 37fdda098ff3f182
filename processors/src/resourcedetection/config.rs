//! `resourcedetection` settings: the Collector's keys for the `env` and `system` detectors.

use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use serde::{Deserialize, Serialize};

/// `resourcedetection`: adds the host's identity to every resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceDetectionConfig {
    /// Detectors, in order; when two set the same attribute the first wins. `env` reads
    /// `OTEL_RESOURCE_ATTRIBUTES`, `system` the host (`host.name`, `host.id`, `os.type`,
    /// `host.arch`). Required, e.g. `[env, system]`.
    pub detectors: Vec<Detector>,
    /// Replace attributes the resource already has (default `true`, as in the Collector);
    /// `false` only fills in missing ones.
    #[serde(rename = "override")]
    pub override_existing: bool,
    /// How long a slow lookup (the `dns` hostname source) may take at start (default `5s`).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Settings of the `system` detector.
    pub system: SystemConfig,
}

impl Default for ResourceDetectionConfig {
    fn default() -> Self {
        ResourceDetectionConfig {
            detectors: Vec::new(),
            override_existing: true,
            timeout: Duration::from_secs(5),
            system: SystemConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    Env,
    System,
}

/// `system:`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// Where `host.name` comes from, tried in order until one answers (default
    /// `[dns, os]`): `dns` is the fully qualified name the resolver gives for the host's
    /// name (`/etc/hosts` first), `os` the kernel's host name. Use `[os]` for the short
    /// name without any lookup.
    pub hostname_sources: Vec<HostnameSource>,
    /// Attributes switched on or off: `host.name: {enabled: true}`.
    pub resource_attributes: SystemAttributes,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            hostname_sources: vec![HostnameSource::Dns, HostnameSource::Os],
            resource_attributes: SystemAttributes::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostnameSource {
    Dns,
    Os,
}

/// `resource_attributes:` of the `system` detector (the Collector's defaults).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemAttributes {
    /// The host's name (default on).
    #[serde(rename = "host.name")]
    pub host_name: Switch,
    /// `/etc/machine-id` (else `/var/lib/dbus/machine-id`), stable across reboots and
    /// renames (default off, as in the Collector).
    #[serde(rename = "host.id")]
    pub host_id: Switch,
    /// `linux` (default on).
    #[serde(rename = "os.type")]
    pub os_type: Switch,
    /// `amd64`, `arm64`, … (default off).
    #[serde(rename = "host.arch")]
    pub host_arch: Switch,
}

impl Default for SystemAttributes {
    fn default() -> Self {
        SystemAttributes {
            host_name: Switch { enabled: true },
            host_id: Switch { enabled: false },
            os_type: Switch { enabled: true },
            host_arch: Switch { enabled: false },
        }
    }
}

/// `{enabled: bool}`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// Whether the attribute is added.
    pub enabled: bool,
}

impl ComponentConfig for ResourceDetectionConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.detectors.is_empty() {
            return Err(ValidationError::at(
                "detectors",
                "list at least one detector, e.g. `detectors: [env, system]`",
            ));
        }
        if self.detectors.contains(&Detector::System) && self.system.hostname_sources.is_empty() {
            return Err(ValidationError::at(
                "system.hostname_sources",
                "list at least one source: `[os]` or `[dns, os]`",
            ));
        }
        if self.timeout.is_zero() {
            return Err(ValidationError::at("timeout", "must be more than 0s"));
        }
        Ok(())
    }
}
