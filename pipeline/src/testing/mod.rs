//! The component compliance kit: one runner per component kind, in the spirit of Vector's
//! component compliance helpers. Every component's folder has a test that builds the
//! component from its factory with a config snippet, drives real data through the real
//! hand-off plumbing (`Output`, `Consumer`, the pipeline task, the sending queue) and checks
//! the contract every component keeps:
//!
//! - the six self-metrics (received, sent, refused, dropped, failed, queue size), exactly;
//! - refusal: a full downstream gives the sender a retryable refusal, and nothing that was
//!   acknowledged is lost;
//! - flush on shutdown: what a component holds reaches its downstream when it stops.
//!
//! `agent/src/components.rs` has a test that walks the registry and fails for any
//! registered type whose folder does not call its kind's runner.

mod connector;
mod counts;
mod data;
mod exporter;
mod processor;
mod receiver;
mod sink;
#[cfg(test)]
mod tests;

pub use connector::ConnectorCompliance;
pub use counts::{component_counts, ComponentCounts};
pub use data::{sample, string_kv};
pub use exporter::{
    scratch_dir, DeliveredItems, ExporterCompliance, MakeSample, QueueUnderTest, StartQueue,
};
pub use processor::ProcessorCompliance;
pub use receiver::{ClientOutcome, ReceiverCompliance, ReceiverDriver, Scrapes};
pub use sink::{sinks_for, TestSink};

use std::time::Duration;

use crate::config::Node;

/// How long a runner waits for anything asynchronous before it fails the test.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The id every component under test gets, so its series are easy to find.
pub fn compliance_id(type_name: &str) -> String {
    format!("{type_name}/compliance")
}

/// A config snippet, as a component's node. Written like the body of the component's
/// entry in a config file; an empty string means "all defaults".
pub fn snippet(yaml: &str) -> Node {
    let span = crate::config::Span::new("<compliance>", 1, 1);
    crate::config::parse_yaml("<compliance>", yaml)
        .unwrap_or_else(|err| panic!("the compliance snippet is not valid YAML: {err}"))
        .unwrap_or_else(|| Node::empty_map(span))
}
