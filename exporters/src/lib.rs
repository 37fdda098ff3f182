//! Sentinel sinks and the sending queue that wraps every one of them.

pub mod blackhole;
pub mod debug;
pub mod file;
pub mod loadbalancing;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod otlp;
pub mod otlphttp;
pub mod postgres;
pub mod prometheus;
pub mod prometheusremotewrite;
pub mod sending;
