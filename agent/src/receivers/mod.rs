//! Receivers: components that take data in from outside the agent.

pub mod hostmetrics;
pub mod otlp;
pub mod scrape;
