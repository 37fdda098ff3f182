//! Sentinel sinks and the sending queue that wraps every one of them.

pub mod alertmanager;
pub mod blackhole;
pub mod debug;
pub mod email;
pub mod file;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod loadbalancing;
pub mod notify;
pub mod otlp;
pub mod otlphttp;
pub mod pagerduty;
pub mod postgres;
pub mod prometheus;
pub mod prometheusremotewrite;
pub mod sending;
pub mod slack;
pub mod webhook;
