//! Shared by every Sentinel crate: the OTLP signal types that flow through pipelines, the
//! component traits and factories, config nodes with positions, and self-metrics.

pub mod ack;
pub mod admission;
pub mod component;
pub mod config;
pub mod handoff;
pub mod http;
pub mod listen;
pub mod pipeline_task;
pub mod private_fs;
pub mod prometheus;
pub mod sending;
pub mod signal;
pub mod tap;
pub mod telemetry;
pub mod testing;
pub mod tls;
pub mod visit;

pub use ack::{ack_pair, AckToken, AckWaiter, Acks, Refusal, RefusalKind};
pub use component::*;
pub use config::ValidationError;
pub use handoff::Handoffs;
pub use pipeline_task::{PipelineInput, PipelineTask, Stage, PIPELINE_INPUT_CAPACITY};
pub use signal::{
    Encoded, EncodedMessage, Held, Message, Payload, SharedBatch, SharedRecord, Signal,
};
pub use telemetry::{ComponentMetrics, SelfMetrics};

/// The OTLP protobuf types, re-exported so every crate uses the same version.
pub use opentelemetry_proto::tonic as otlp;
