//! The scraper table: one entry per key under `scrapers`, naming its metric catalog and
//! how it is built from its config. [`build`] (used by `Collector::build`) checks the
//! metric switches against the catalogs, compiles the filters and builds, in table order;
//! adding a scraper means one entry here and one field in `config::Scrapers`.

use std::path::Path;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};

use super::config::{HostMetricsConfig, Scrapers};
use super::matching::{FilterError, PatternError};
use super::scraper::Scraper;
use super::switches::{check_names, Enabled, MetricCatalog, MetricSwitches, UnknownMetric};
use super::{
    container, cpu, disk, filesystem, load, memory, network, paging, process, processes, system,
};

/// One scraper.
pub struct ScraperEntry {
    /// Its key under `scrapers`, and its `scraper` label on partial-failure counts.
    pub name: &'static str,
    pub catalog: MetricCatalog,
    /// The metric switches of `scrapers.<name>`; `None` when the key is absent (scraper off).
    pub switches: fn(&Scrapers) -> Option<&MetricSwitches>,
    /// The scraper from `scrapers.<name>` with its metrics resolved; `None` when absent.
    pub build: fn(&Scrapers, Enabled) -> Option<Built>,
}

/// A scraper built from its config, or why it cannot be.
pub type Built = Result<Box<dyn Scraper>, ScraperConfigError>;

/// A built scraper with its name (its `scraper` label on failure counts).
pub type Named = (&'static str, Box<dyn Scraper>);

fn boxed(scraper: impl Scraper + 'static) -> Box<dyn Scraper> {
    Box::new(scraper)
}

/// Every scraper, in the order a round runs them. `process` is first: its walk over
/// `/proc/<pid>/stat` also yields the status counts of `processes`, which then needs no
/// walk of its own. The host metrics come out in the order of the rest.
pub static SCRAPERS: [ScraperEntry; 11] = [
    ScraperEntry {
        name: "process",
        catalog: process::METRICS,
        switches: |s| s.process.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            let config = s.process.as_ref()?;
            Some(
                process::ProcessScraper::new(on, config)
                    .map(boxed)
                    .map_err(ScraperConfigError::ProcessFilter),
            )
        },
    },
    ScraperEntry {
        name: "cpu",
        catalog: cpu::METRICS,
        switches: |s| s.cpu.as_ref().map(|c| &c.metrics),
        build: |s, on| s.cpu.as_ref().map(|_| Ok(boxed(cpu::CpuScraper::new(on)))),
    },
    ScraperEntry {
        name: "memory",
        catalog: memory::METRICS,
        switches: |s| s.memory.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            s.memory
                .as_ref()
                .map(|_| Ok(boxed(memory::MemoryScraper::new(on))))
        },
    },
    ScraperEntry {
        name: "disk",
        catalog: disk::METRICS,
        switches: |s| s.disk.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            let config = s.disk.as_ref()?;
            Some(
                disk::device_filter(config)
                    .map(|devices| boxed(disk::DiskScraper::new(on, devices)))
                    .map_err(ScraperConfigError::Filter),
            )
        },
    },
    ScraperEntry {
        name: "filesystem",
        catalog: filesystem::METRICS,
        switches: |s| s.filesystem.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            let config = s.filesystem.as_ref()?;
            Some(
                filesystem::MountFilter::compile(config)
                    .map(|mounts| boxed(filesystem::FilesystemScraper::new(on, mounts)))
                    .map_err(ScraperConfigError::Filter),
            )
        },
    },
    ScraperEntry {
        name: "network",
        catalog: network::METRICS,
        switches: |s| s.network.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            let config = s.network.as_ref()?;
            Some(
                network::interface_filter(config)
                    .map(|interfaces| boxed(network::NetworkScraper::new(on, interfaces)))
                    .map_err(ScraperConfigError::Filter),
            )
        },
    },
    ScraperEntry {
        name: "load",
        catalog: load::METRICS,
        switches: |s| s.load.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            s.load
                .as_ref()
                .map(|_| Ok(boxed(load::LoadScraper::new(on))))
        },
    },
    ScraperEntry {
        name: "paging",
        catalog: paging::METRICS,
        switches: |s| s.paging.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            s.paging
                .as_ref()
                .map(|_| Ok(boxed(paging::PagingScraper::new(on))))
        },
    },
    ScraperEntry {
        name: "processes",
        catalog: processes::METRICS,
        switches: |s| s.processes.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            s.processes
                .as_ref()
                .map(|_| Ok(boxed(processes::ProcessesScraper::new(on))))
        },
    },
    ScraperEntry {
        name: "system",
        catalog: system::METRICS,
        switches: |s| s.system.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            s.system
                .as_ref()
                .map(|_| Ok(boxed(system::SystemScraper::new(on))))
        },
    },
    ScraperEntry {
        name: "container",
        catalog: container::METRICS,
        switches: |s| s.container.as_ref().map(|c| &c.metrics),
        build: |s, on| {
            s.container.as_ref().map(|_| {
                // The agent's own cgroup, seen through its own /proc and /sys, not root_path.
                let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
                Ok(boxed(container::ContainerScraper::new(
                    on,
                    Path::new("/sys/fs/cgroup"),
                    &own,
                )))
            })
        },
    },
];

/// A `scrapers` section that cannot be built. The messages are those of
/// `HostMetricsConfig::validate`.
#[derive(Debug, thiserror::Error)]
pub enum ScraperConfigError {
    #[error(transparent)]
    UnknownMetric(#[from] UnknownMetric),
    /// An include/exclude pattern of `disk`, `network` or `filesystem`.
    #[error(transparent)]
    Filter(FilterError),
    #[error("scrapers.process: {0}")]
    ProcessFilter(PatternError),
    #[error("scrapers: enable at least one scraper (cpu, memory, disk, filesystem, network, load, paging, processes, system, process, container)")]
    NoScraper,
}

/// The config checks are the table's: what validates is what builds.
impl ComponentConfig for HostMetricsConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.collection_interval < Duration::from_secs(1) {
            return Err(ValidationError::new(
                "collection_interval must be at least 1s",
            ));
        }
        if !self.root_path.starts_with('/') {
            return Err(ValidationError::new(format!(
                "root_path must be an absolute path, got {:?}",
                self.root_path
            )));
        }
        // The scraper table checks metric switches and filters exactly as the build does.
        build(&self.scrapers)?;
        if let Some(process) = &self.scrapers.process {
            process.validate()?;
        }
        Ok(())
    }
}

/// Each reported at the key it names.
impl From<ScraperConfigError> for ValidationError {
    fn from(err: ScraperConfigError) -> ValidationError {
        match err {
            ScraperConfigError::UnknownMetric(unknown) => ValidationError::at(
                format!("scrapers.{}.metrics", unknown.scraper),
                unknown.message,
            ),
            ScraperConfigError::Filter(filter) => filter.into(),
            ScraperConfigError::ProcessFilter(pattern) => {
                ValidationError::at("scrapers.process", pattern.to_string())
            }
            ScraperConfigError::NoScraper => ValidationError::at(
                "scrapers",
                "enable at least one scraper (cpu, memory, disk, filesystem, network, load, \
                 paging, processes, system, process, container)",
            ),
        }
    }
}

/// The configured scrapers in round order, each with its name.
pub fn build(scrapers: &Scrapers) -> Result<Vec<Named>, ScraperConfigError> {
    let mut built = Vec::new();
    for entry in &SCRAPERS {
        let Some(switches) = (entry.switches)(scrapers) else {
            continue;
        };
        check_names(entry.name, entry.catalog, switches)?;
        let enabled = Enabled::resolve(entry.catalog, switches);
        if let Some(scraper) = (entry.build)(scrapers, enabled) {
            built.push((entry.name, scraper?));
        }
    }
    if built.is_empty() {
        return Err(ScraperConfigError::NoScraper);
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use sentinel_pipeline::config::ComponentConfig;

    use super::*;
    use crate::receivers::hostmetrics::HostMetricsConfig;

    fn with_scrapers(scrapers: serde_json::Value) -> HostMetricsConfig {
        serde_json::from_value(serde_json::json!({ "scrapers": scrapers })).unwrap()
    }

    /// `HostMetricsConfig::validate` and [`build`] refuse the same configs with the same
    /// words, for every entry of the table.
    #[test]
    fn validate_and_build_agree_on_every_entry() {
        for entry in &SCRAPERS {
            let config = with_scrapers(serde_json::json!({ entry.name: {} }));
            assert!(config.validate().is_ok(), "{}", entry.name);
            let built = build(&config.scrapers).unwrap();
            assert_eq!(built.len(), 1);
            assert_eq!(built[0].0, entry.name);

            let unknown =
                serde_json::json!({ "metrics": { "no.such.metric": { "enabled": true } } });
            let config = with_scrapers(serde_json::json!({ entry.name: unknown }));
            let refused = config.validate().unwrap_err().to_string();
            assert!(
                refused.starts_with(&format!("scrapers.{}.metrics: ", entry.name)),
                "{refused}"
            );
            let Err(err) = build(&config.scrapers) else {
                panic!("{} built with an unknown metric", entry.name);
            };
            assert_eq!(err.to_string(), refused);
        }
        let none = with_scrapers(serde_json::json!({}));
        let refused = none.validate().unwrap_err().to_string();
        let Err(err) = build(&none.scrapers) else {
            panic!("built without scrapers");
        };
        assert_eq!(err.to_string(), refused);
        for entry in &SCRAPERS {
            assert!(
                refused.contains(entry.name),
                "{refused} names {}",
                entry.name
            );
        }
    }

    #[test]
    fn bad_patterns_are_refused_with_validates_words() {
        let bad = serde_json::json!({ "devices": ["("], "match_type": "regexp" });
        let process_bad = serde_json::json!({ "names": ["("], "match_type": "regexp" });
        for scrapers in [
            serde_json::json!({ "disk": { "include": bad } }),
            serde_json::json!({ "filesystem": { "exclude_devices": bad } }),
            serde_json::json!({ "network": { "include": { "interfaces": ["("], "match_type": "regexp" } } }),
            serde_json::json!({ "process": { "include": process_bad } }),
        ] {
            let config = with_scrapers(scrapers);
            let refused = config.validate().unwrap_err().to_string();
            let Err(err) = build(&config.scrapers) else {
                panic!("built with a bad pattern: {refused}");
            };
            assert_eq!(err.to_string(), refused);
        }
    }
}
