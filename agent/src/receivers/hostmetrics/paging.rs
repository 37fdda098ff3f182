//! `paging` scraper: swap devices from `/proc/swaps`, paging and faults from `/proc/vmstat`.

use std::io;

use opentelemetry_proto::tonic::metrics::v1::Metric;

use super::config::{Enabled, MetricCatalog};
use super::root::kv_space;
use super::{HostScraper, Sample};
use crate::receivers::scrape::build::{attr, gauge, point, sum, Number};

pub const METRICS: MetricCatalog = &[
    ("system.paging.usage", true),
    ("system.paging.operations", true),
    ("system.paging.faults", true),
    ("system.paging.utilization", false),
];

/// One swap device: name, size and used bytes.
pub fn parse_swaps(text: &str) -> Vec<(String, u64, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let kib = |i: usize| f.get(i)?.parse::<u64>().ok().map(|v| v * 1024);
            Some((f.first()?.to_string(), kib(2)?, kib(3)?))
        })
        .collect()
}

pub struct PagingScraper {
    enabled: Enabled,
    buf: String,
}

impl PagingScraper {
    pub fn new(enabled: Enabled) -> PagingScraper {
        PagingScraper {
            enabled,
            buf: String::new(),
        }
    }
}

impl HostScraper for PagingScraper {
    fn name(&self) -> &'static str {
        "paging"
    }

    fn scrape(&mut self, s: &Sample, out: &mut Vec<Metric>) -> io::Result<()> {
        let on = |name| self.enabled.on(name);
        if on("system.paging.usage") || on("system.paging.utilization") {
            let swaps = parse_swaps(&s.root.read("proc/swaps")?);
            let states = |f: &dyn Fn(u64, u64) -> Number, start| {
                swaps
                    .iter()
                    .flat_map(|(device, size, used)| {
                        [("used", *used), ("free", size.saturating_sub(*used))].map(
                            |(state, bytes)| {
                                point(
                                    start,
                                    s.now,
                                    f(bytes, *size),
                                    vec![
                                        attr("system.device", device.as_str()),
                                        attr("system.paging.state", state),
                                    ],
                                )
                            },
                        )
                    })
                    .collect::<Vec<_>>()
            };
            if on("system.paging.usage") {
                out.push(sum(
                    "system.paging.usage",
                    "Swap space in use and free, per device",
                    "By",
                    false,
                    states(&|b, _| Number::Int(b as i64), s.boot),
                ));
            }
            if on("system.paging.utilization") {
                out.push(gauge(
                    "system.paging.utilization",
                    "Share of swap space in use and free",
                    "1",
                    states(&|b, size| Number::Double(b as f64 / size.max(1) as f64), 0),
                ));
            }
        }
        if on("system.paging.operations") || on("system.paging.faults") {
            s.root.read_into("proc/vmstat", &mut self.buf)?;
            let v = |key| Number::Int(kv_space(&self.buf, key).unwrap_or(0) as i64);
            if on("system.paging.operations") {
                // Swap-ins/outs are the major operations, page-ins/outs the minor ones (as the Collector).
                let points = [
                    ("in", "major", v("pswpin")),
                    ("out", "major", v("pswpout")),
                    ("in", "minor", v("pgpgin")),
                    ("out", "minor", v("pgpgout")),
                ]
                .into_iter()
                .map(|(dir, kind, n)| {
                    point(
                        s.boot,
                        s.now,
                        n,
                        vec![
                            attr("system.paging.direction", dir),
                            attr("system.paging.type", kind),
                        ],
                    )
                })
                .collect();
                out.push(sum(
                    "system.paging.operations",
                    "Paging operations",
                    "{operation}",
                    true,
                    points,
                ));
            }
            if on("system.paging.faults") {
                let all = kv_space(&self.buf, "pgfault").unwrap_or(0);
                let major = kv_space(&self.buf, "pgmajfault").unwrap_or(0);
                let points = [("major", major), ("minor", all.saturating_sub(major))]
                    .into_iter()
                    .map(|(kind, n)| {
                        point(
                            s.boot,
                            s.now,
                            Number::Int(n as i64),
                            vec![attr("system.paging.type", kind)],
                        )
                    })
                    .collect();
                out.push(sum(
                    "system.paging.faults",
                    "Page faults",
                    "{fault}",
                    true,
                    points,
                ));
            }
        }
        Ok(())
    }
}
